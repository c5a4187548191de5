import Addressing
import CNI
import JSON

/// host-local's config, read the way the reference reads it (`allocator.LoadIPAMConfig`).
public struct HostLocalConfig: Sendable {
    public var networkName: String
    /// Range sets in allocation order: runtimeConfig.ipRanges, then the legacy top-level
    /// range, then `ranges`.
    public var rangeSets: [RangeSet]
    public var routes: [CNIResult.Route]
    /// `<dataDir>/<network name>` holds the reservations.
    public var dataDirectory: String
    public var resolvConf: String?
    /// Requested addresses: CNI_ARGS IP=, then args.cni.ips, then runtimeConfig.ips.
    public var requestedAddresses: [IPAddress]

    public static let defaultDataDirectory = "/var/lib/cni/networks"

    public init(request: CNIRequest) throws(CNIError) {
        guard let ipamObject = request.config.ipam else {
            throw CNIError.invalidConfig("IPAM config missing 'ipam' key")
        }
        let ipam = ConfigReader(ipamObject, path: "ipam")
        networkName = request.config.name
        dataDirectory = try ipam.string("dataDir").flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultDataDirectory
        resolvConf = try ipam.string("resolvConf").flatMap { $0.isEmpty ? nil : $0 }
        routes = try StaticIPAM.routes(ipam)

        var requested: [IPAddress] = []
        let args = try request.cniArgs(knownKeys: ["IP"])
        if let text = args["IP"], !text.isEmpty {
            requested.append(try Self.requestedAddress(text, source: "CNI_ARGS IP"))
        }
        for (source, values) in try request.requestedIPs() {
            for text in values { requested.append(try Self.requestedAddress(text, source: source)) }
        }
        requestedAddresses = requested

        var sets: [RangeSet] = []
        let runtime = ConfigReader(request.config.runtimeConfig, path: "runtimeConfig")
        sets += try Self.rangeSets(runtime, key: "ipRanges")
        if ipam.value("subnet") != nil {
            sets.append(try RangeSet([try AddressRange(ipam)], path: "ipam"))
        }
        sets += try Self.rangeSets(ipam, key: "ranges")
        guard !sets.isEmpty else { throw CNIError.invalidConfig("no IP ranges specified") }

        let version = CNIVersion(parsing: request.config.cniVersion) ?? CNIVersion(0, 1, 0)
        if version < CNIVersion(0, 3, 0) {
            for family in [IPAddress.Family.v4, .v6] where sets.filter({ $0.family == family }).count > 1 {
                throw CNIError.invalidConfig(
                    "CNI version \(request.config.cniVersion) does not support more than 1 address per family")
            }
        }
        for (i, a) in sets.enumerated() {
            for (j, b) in sets.enumerated() where j > i && a.overlaps(b) {
                throw CNIError.invalidConfig("range set \(i) overlaps with \(j)")
            }
        }
        rangeSets = sets
    }

    /// "ip" or "ip/len" (the prefix is ignored, as the reference's ip.IP does).
    static func requestedAddress(_ text: String, source: String) throws(CNIError) -> IPAddress {
        let addressText = text.split(separator: "/", maxSplits: 1).first.map(String.init) ?? text
        guard let address = IPAddress(addressText) else {
            throw CNIError.invalidConfig("\(source): cannot understand ip \"\(text)\"")
        }
        return address
    }

    static func rangeSets(_ reader: ConfigReader, key: String) throws(CNIError) -> [RangeSet] {
        guard let list = try reader.array(key) else { return [] }
        var sets: [RangeSet] = []
        for (index, element) in list.enumerated() {
            let path = "\(reader.keyPath(key))[\(index)]"
            guard let members = element.arrayValue else {
                throw CNIError.invalidConfig("\"\(path)\": expected an array of ranges, found \(element.kindName)")
            }
            var ranges: [AddressRange] = []
            for (position, member) in members.enumerated() {
                guard let object = member.objectValue else {
                    throw CNIError.invalidConfig(
                        "\"\(path)[\(position)]\": expected an object, found \(member.kindName)")
                }
                ranges.append(try AddressRange(ConfigReader(object, path: "\(path)[\(position)]")))
            }
            do {
                sets.append(try RangeSet(ranges, path: path))
            } catch {
                throw CNIError.invalidConfig("invalid range set \(index): \(error.msg)")
            }
        }
        return sets
    }
}
