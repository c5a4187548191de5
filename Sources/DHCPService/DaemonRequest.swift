import CNI
import JSON

/// What a plugin asks of the daemon: one JSON object a line on the daemon's socket (the disk
/// keeps leases in its own format, `LeaseFile`).
///
/// The protocol has a version: a plugin sends `"version": 1`; a daemon refuses a request of a
/// version it does not know (code 11: restart the daemon after an upgrade), so an older daemon
/// never half-reads a newer plugin's request. A request without the key (from swift-cni before
/// the key) is version 1.
struct DaemonRequest: Sendable {
    /// The socket protocol's version this daemon and plugin speak.
    static let protocolVersion = 1

    enum Command: String, Sendable { case add, del, check, gc, status, leases }
    var command: Command
    var containerID: String = ""
    var network: String = ""
    var ifName: String = ""
    var netns: String = ""
    /// What the network config asks of the lease.
    var parameters = LeaseParameters()
    /// GC: the attachments whose leases stay.
    var validAttachments: [Attachment] = []

    var key: String { "\(containerID)/\(network)/\(ifName)" }

    var json: JSONValue {
        var object = JSONObject()
        object["version"] = .integer(Self.protocolVersion)
        object["command"] = .string(command.rawValue)
        object["containerID"] = .string(containerID)
        object["network"] = .string(network)
        object["ifName"] = .string(ifName)
        object["netns"] = .string(netns)
        if let hostName = parameters.hostName { object["hostName"] = .string(hostName) }
        if let timeout = parameters.timeout { object["timeout"] = .number(String(timeout)) }
        OptionListCoding.put(
            requested: parameters.requestOptions, provided: parameters.provideOptions, into: &object)
        if parameters.skipDefaultRequests { object["skipDefault"] = true }
        if let priority = parameters.priority { object["priority"] = .integer(priority) }
        if parameters.families != [.ipv4] {
            object["ipFamilies"] = .array(parameters.families.map { .string($0.rawValue) })
        }
        if !validAttachments.isEmpty || command == .gc {
            object["valid"] = .array(
                validAttachments.map { ["containerID": .string($0.containerID), "ifname": .string($0.ifName)] })
        }
        return .object(object)
    }

    init(command: Command) { self.command = command }

    init(json value: JSONValue) throws(CNIError) {
        guard let object = value.objectValue, let name = object["command"]?.stringValue,
            let command = Command(rawValue: name)
        else {
            throw CNIError(code: .decodingFailure, msg: "not a dhcp daemon request")
        }
        let version = OptionListCoding.version(of: object)
        guard version <= Self.protocolVersion else {
            throw CNIError(
                code: .tryAgainLater,
                msg:
                    "the dhcp daemon speaks protocol version \(Self.protocolVersion), this request version \(version): "
                    + "restart the daemon (dhcp daemon) so that it runs the plugins' version")
        }
        let reader = ConfigReader(object)
        self.command = command
        containerID = try reader.string("containerID") ?? ""
        network = try reader.string("network") ?? ""
        ifName = try reader.string("ifName") ?? ""
        netns = try reader.string("netns") ?? ""
        parameters.hostName = try reader.string("hostName")
        // Whatever a client sends, the daemon waits a finite time (its own -timeout caps it).
        parameters.timeout = reader.value("timeout")?.doubleValue.flatMap {
            $0 > 0 && $0 <= DaemonSettings.longestTimeout ? $0 : nil
        }
        parameters.requestOptions = try OptionListCoding.requested(reader)
        parameters.provideOptions = try OptionListCoding.provided(reader)
        parameters.skipDefaultRequests = try reader.bool("skipDefault") ?? false
        parameters.priority = try reader.uint32("priority")
        if let names = try reader.strings("ipFamilies") {
            let families = LeaseFamily.allCases.filter { names.contains($0.rawValue) }
            parameters.families = families.isEmpty ? [.ipv4] : families
        }
        for entry in try reader.objects("valid") ?? [] {
            validAttachments.append(
                Attachment(containerID: try entry.string("containerID") ?? "", ifName: try entry.string("ifname") ?? "")
            )
        }
    }
}
