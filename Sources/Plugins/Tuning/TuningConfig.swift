import Addressing
import CNI
import JSON
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// tuning's config (upstream v1.9's keys): sysctls of the container's own network namespace
/// and link settings of its interface, each from the config, then CNI_ARGS `MAC`, then
/// `runtimeConfig.mac`, then `args.cni` (the order upstream applies them in).
struct TuningConfig {
    /// Upstream's default: saved originals live in tmpfs, gone with a reboot, as the links are.
    static let defaultDataDirectory = "/run/cni/tuning"
    static let allowlistPath = "/etc/cni/tuning/allowlist.conf"

    var dataDirectory: String
    /// (the key as given, the key under /proc/sys with IFNAME substituted, the value), in order.
    var sysctls: [(given: String, key: String, value: String)]
    var mac: MACAddress?
    var promiscuous: Bool
    var mtu: UInt32?
    var allMulticast: Bool?
    var transmitQueueLength: UInt32?

    /// Whether any link setting is asked for (then the originals are saved first).
    var changesTheLink: Bool {
        mac != nil || promiscuous || mtu != nil || allMulticast != nil || transmitQueueLength != nil
    }

    init(_ request: CNIRequest, allowlistPath: String = TuningConfig.allowlistPath) throws(CNIError) {
        let reader = request.config.reader
        dataDirectory = try reader.string("dataDir").flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultDataDirectory
        var values: [(String, String)] = try Self.sysctlValues(reader.object("sysctl"))
        mac = try reader.macAddress("mac")
        promiscuous = try reader.bool("promisc") ?? false
        mtu = try Self.nonZero(reader.integer("mtu", in: 0...65535 as ClosedRange<UInt32>))
        allMulticast = try reader.bool("allmulti")
        transmitQueueLength = try reader.integer("txQLen", in: 0...UInt32.max)
        if let text = try request.cniArgs(knownKeys: ["MAC"])["MAC"], !text.isEmpty {
            guard let address = MACAddress(text) else {
                throw .invalidConfig("CNI_ARGS MAC: invalid MAC address \"\(text)\"")
            }
            mac = address
        }
        if let address = try ConfigReader(request.config.runtimeConfig, path: "runtimeConfig").macAddress("mac") {
            mac = address
        }
        if let args = try ConfigReader(request.config.args, path: "args").object("cni") {
            for (key, value) in try Self.sysctlValues(args.object("sysctl")) {
                values.removeAll { $0.0 == key }
                values.append((key, value))
            }
            if let address = try args.macAddress("mac") { mac = address }
            if let flag = try args.bool("promisc") { promiscuous = flag }
            if let value = try args.integer("mtu", in: 0...65535 as ClosedRange<UInt32>) { mtu = Self.nonZero(value) }
            if let flag = try args.bool("allmulti") { allMulticast = flag }
            if let value = try args.integer("txQLen", in: 0...UInt32.max) { transmitQueueLength = value }
        }
        let ifName = request.environment.ifName
        sysctls = try values.map { (given, value) throws(CNIError) in
            (given, try Self.key(given, ifName: ifName), value)
        }
        try Self.checkAllowlist(sysctls.map(\.given), path: allowlistPath)
    }

    static func nonZero(_ value: UInt32?) -> UInt32? { value == 0 ? nil : value }

    /// The `sysctl` object: keys to string values; a value with a line break could write a
    /// second value, so it is refused.
    static func sysctlValues(_ object: ConfigReader?) throws(CNIError) -> [(String, String)] {
        guard let object else { return [] }
        var values: [(String, String)] = []
        for key in object.object.keys {
            guard let value = try object.string(key) else { continue }
            if value.contains(where: { $0 == "\n" || $0 == "\r" }) {
                throw .invalidConfig("\"\(object.keyPath(key))\": a sysctl value cannot hold a line break")
            }
            values.append((key, value))
        }
        return values
    }

    /// The key as a path under /proc/sys: dots become slashes (upstream's rule: `/` may be
    /// written directly too), the first `IFNAME` the interface's name. Only the container's
    /// own network namespace may be changed: the path must stay inside `net/`, so an empty,
    /// `.` or `..` component is code 7, as is anything outside `net/`.
    static func key(_ given: String, ifName: String) throws(CNIError) -> String {
        var key = given.replacing(".", with: "/")
        if let range = key.firstRange(of: "IFNAME") { key.replaceSubrange(range, with: ifName) }
        let components = key.split(separator: "/", omittingEmptySubsequences: false)
        guard components.count >= 2, components.first == "net",
            components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." })
        else {
            throw .invalidConfig(
                "\"sysctl\": invalid net sysctl key \"\(given)\" (only net.* keys of the container's namespace)")
        }
        return key
    }

    /// With /etc/cni/tuning/allowlist.conf present, every key must match one of its lines
    /// (regular expressions, unanchored, as upstream's regexp.MatchString); no file, no check.
    static func checkAllowlist(_ keys: [String], path: String) throws(CNIError) {
        guard !keys.isEmpty, access(path, F_OK) == 0 else { return }
        let text: String
        do {
            text = String(decoding: try FileIO.readFile(path), as: UTF8.self)
        } catch {
            throw CNIError(
                code: .invalidConfig, msg: "cannot read the sysctl allowlist \(path)", details: error.description)
        }
        let patterns = text.split(separator: "\n").map { $0.trimmingWhitespace }.filter { !$0.isEmpty }
        var expressions: [Regex<AnyRegexOutput>] = []
        for pattern in patterns {
            guard let expression = try? Regex(pattern) else {
                throw .invalidConfig("the sysctl allowlist \(path) holds an invalid expression \"\(pattern)\"")
            }
            expressions.append(expression)
        }
        for key in keys where !expressions.contains(where: { key.firstMatch(of: $0) != nil }) {
            throw .invalidConfig(
                "sysctl \(key) is not allowed: \(path) allows only \(patterns.joined(separator: ", "))")
        }
    }
}

/// The link settings tuning changed, saved before the change as upstream saves them
/// (`<dataDir>/<containerID>_<ifname>.json`, Go's MarshalIndent with one space; fields absent
/// when not changed), so either implementation restores what the other changed.
struct SavedLinkSettings: Equatable {
    var mac: MACAddress?
    var promiscuous: Bool?
    var mtu: UInt32?
    var allMulticast: Bool?
    var transmitQueueLength: UInt32?

    static func path(directory: String, containerID: String, ifName: String) -> String {
        directory + "/" + containerID + "_" + ifName + ".json"
    }

    var json: String {
        var object = JSONObject()
        if let mac { object["mac"] = .string(mac.description) }
        if let promiscuous { object["promisc"] = .bool(promiscuous) }
        if let mtu, mtu != 0 { object["mtu"] = .integer(mtu) }
        if let allMulticast { object["allmulti"] = .bool(allMulticast) }
        if let transmitQueueLength { object["txQLen"] = .integer(transmitQueueLength) }
        return JSONValue.object(object).serialized(indent: 1)
    }

    /// nil for a file that is not such an object (upstream ignores it too).
    init?(json bytes: [UInt8]) {
        guard let object = (try? JSONValue.parse(bytes))?.objectValue else { return nil }
        mac = object["mac"]?.stringValue.flatMap { MACAddress($0) }
        promiscuous = object["promisc"]?.boolValue
        mtu = object["mtu"]?.integer(as: UInt32.self).flatMap { $0 == 0 ? nil : $0 }
        allMulticast = object["allmulti"]?.boolValue
        transmitQueueLength = object["txQLen"]?.integer(as: UInt32.self)
    }

    init(
        mac: MACAddress? = nil, promiscuous: Bool? = nil, mtu: UInt32? = nil, allMulticast: Bool? = nil,
        transmitQueueLength: UInt32? = nil
    ) {
        self.mac = mac
        self.promiscuous = promiscuous
        self.mtu = mtu
        self.allMulticast = allMulticast
        self.transmitQueueLength = transmitQueueLength
    }
}
