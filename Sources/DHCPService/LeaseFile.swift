import Addressing
import CNI
import DHCP
import JSON

/// One lease as the daemon keeps it on disk, `<state dir>/<FNV-1a of the key><suffix>`: written
/// whole (temporary file, fsync, rename) after every change and read back when the daemon
/// starts, so that a restart resumes it.
///
/// The disk format is this type's alone, apart from the socket's `DaemonRequest`: a new
/// request field or DHCP option changes what is kept only when this type says so. Version 2
/// files say their `version` and `family`; version 1 files (swift-cni before 2026-12) say
/// neither and are read as the family their suffix names. Every key of version 1 keeps its
/// name and meaning, so a daemon of either version resumes the other's leases.
struct LeaseFile: Equatable {
    static let currentVersion = 2

    /// What the attachment asked, as far as a resumed client needs it to be the same client to
    /// the server (identity, options) and to put a changed lease on the same interface.
    struct Attachment: Equatable {
        var containerID: String
        var network: String
        var ifName: String
        var netns: String
        var hostName: String?
        var requestOptions: [UInt8]
        var provideOptions: [Provided]
        var skipDefaultRequests: Bool
        var priority: UInt32?
    }

    /// A `provide`d option: code and value.
    struct Provided: Equatable {
        var code: UInt8
        var value: [UInt8]
    }

    /// The family's lease, with what the family keeps beside it.
    enum Lease: Equatable {
        /// DHCPv4: the MAC the lease was asked with (the chaddr a renewal must repeat), whether
        /// replies were asked for by broadcast (nil in files older than that choice: the
        /// daemon's setting), and the interface's MTU before the server's.
        case ipv4(DHCPLease, mac: MACAddress, broadcast: Bool?, originalMTU: UInt32?)
        case ipv6(DHCPv6Lease)

        /// The lease itself, either family.
        var bound: any BoundLease {
            switch self {
            case .ipv4(let lease, _, _, _): lease
            case .ipv6(let lease): lease
            }
        }
    }

    var attachment: Attachment
    /// The wall-clock time the lease was granted (seconds since the epoch).
    var boundAt: Double
    var lease: Lease

    var family: LeaseFamily {
        switch lease {
        case .ipv4: .ipv4
        case .ipv6: .ipv6
        }
    }

    /// The file name's suffix of each family (version 1's, kept).
    static func suffix(of family: LeaseFamily) -> String {
        switch family {
        case .ipv4: ".json"
        case .ipv6: ".v6"
        }
    }

    /// Why a file is not resumed.
    enum ReadError: Error, Equatable, CustomStringConvertible {
        /// Not JSON, or a key missing or of the wrong type.
        case unreadable(String)
        /// Written by a later daemon: left on disk for it, not guessed at.
        case newerVersion(Int)
        /// The family inside is not the one its name says.
        case familyMismatch(found: String)

        var description: String {
            switch self {
            case .unreadable(let reason): "unreadable lease file: \(reason)"
            case .newerVersion(let version):
                "lease file of version \(version), newer than this daemon's \(LeaseFile.currentVersion)"
            case .familyMismatch(let found): "lease file of family \(found) under the other family's name"
            }
        }
    }

    init(attachment: Attachment, boundAt: Double, lease: Lease) {
        self.attachment = attachment
        self.boundAt = boundAt
        self.lease = lease
    }

    /// Reads a file named with `suffix`'s family (version 1 files have no other hint).
    init(bytes: [UInt8], named family: LeaseFamily) throws(ReadError) {
        guard let object = (try? JSONValue.parse(bytes))?.objectValue else { throw .unreadable("not a JSON object") }
        let version = OptionListCoding.version(of: object)
        guard version <= Self.currentVersion else { throw .newerVersion(version) }
        if let name = object["family"] {
            guard name.stringValue == family.rawValue else {
                throw .familyMismatch(found: name.stringValue ?? name.serialized())
            }
        }
        guard let boundAt = object["boundAt"]?.doubleValue, boundAt.isFinite else { throw .unreadable("no boundAt") }
        let parsed: (attachment: Attachment, lease: Lease?)
        do {
            parsed = try Self.parse(object, family)
        } catch {
            throw .unreadable(error.description)
        }
        guard let lease = parsed.lease else { throw .unreadable("no \(family.rawValue) lease") }
        self.init(attachment: parsed.attachment, boundAt: boundAt, lease: lease)
    }

    /// The attachment and the family's lease (nil when its keys are missing).
    private static func parse(_ object: JSONObject, _ family: LeaseFamily) throws(CNIError) -> (
        attachment: Attachment, lease: Lease?
    ) {
        let reader = ConfigReader(object)
        let attachment = Attachment(
            containerID: try reader.string("containerID") ?? "", network: try reader.string("network") ?? "",
            ifName: try reader.string("ifName") ?? "", netns: try reader.string("netns") ?? "",
            hostName: try reader.string("hostName"),
            requestOptions: try OptionListCoding.requested(reader),
            provideOptions: try OptionListCoding.provided(reader).map { Provided(code: $0.0, value: $0.1) },
            skipDefaultRequests: try reader.bool("skipDefault") ?? false,
            priority: try reader.uint32("priority"))
        switch family {
        case .ipv4:
            guard let value = object["lease"], let mac = object["mac"]?.stringValue.flatMap({ MACAddress($0) }) else {
                return (attachment, nil)
            }
            let lease = try LeaseCoding.lease(value)
            return (
                attachment,
                .ipv4(
                    lease, mac: mac, broadcast: try reader.bool("broadcast"),
                    originalMTU: object["originalMTU"]?.integer(as: UInt32.self))
            )
        case .ipv6:
            guard let value = object["lease6"] else { return (attachment, nil) }
            return (attachment, .ipv6(try LeaseCoding.lease6(value).lease))
        }
    }

    /// The file's bytes (version 2: version 1's keys, and `version` and `family`).
    var bytes: [UInt8] {
        var object = JSONObject()
        object["version"] = .integer(Self.currentVersion)
        object["family"] = .string(family.rawValue)
        object["containerID"] = .string(attachment.containerID)
        object["network"] = .string(attachment.network)
        object["ifName"] = .string(attachment.ifName)
        object["netns"] = .string(attachment.netns)
        if let hostName = attachment.hostName { object["hostName"] = .string(hostName) }
        OptionListCoding.put(
            requested: attachment.requestOptions, provided: attachment.provideOptions.map { ($0.code, $0.value) },
            into: &object)
        if attachment.skipDefaultRequests { object["skipDefault"] = true }
        if let priority = attachment.priority { object["priority"] = .integer(priority) }
        object["boundAt"] = .number(String(boundAt))
        switch lease {
        case .ipv4(let lease, let mac, let broadcast, let originalMTU):
            object["mac"] = .string(mac.description)
            object["lease"] = LeaseCoding.json(lease)
            if let broadcast { object["broadcast"] = .bool(broadcast) }
            if let originalMTU { object["originalMTU"] = .integer(originalMTU) }
        case .ipv6(let lease):
            object["lease6"] = LeaseCoding.json(lease)
        }
        return Array(JSONValue.object(object).serialized(indent: 2).utf8)
    }
}

extension LeaseFile.Attachment {
    /// What of `request` a lease file keeps.
    init(_ request: DaemonRequest) {
        self.init(
            containerID: request.containerID, network: request.network, ifName: request.ifName, netns: request.netns,
            hostName: request.parameters.hostName, requestOptions: request.parameters.requestOptions,
            provideOptions: request.parameters.provideOptions.map { LeaseFile.Provided(code: $0.0, value: $0.1) },
            skipDefaultRequests: request.parameters.skipDefaultRequests, priority: request.parameters.priority)
    }

    /// The request a resumed lease is renewed for (an ADD of this attachment).
    var request: DaemonRequest {
        var request = DaemonRequest(command: .add)
        request.containerID = containerID
        request.network = network
        request.ifName = ifName
        request.netns = netns
        request.parameters.hostName = hostName
        request.parameters.requestOptions = requestOptions
        request.parameters.provideOptions = provideOptions.map { ($0.code, $0.value) }
        request.parameters.skipDefaultRequests = skipDefaultRequests
        request.parameters.priority = priority
        return request
    }
}
