import Addressing
import CNI
import JSON

extension SubInterfaceSettings {
    /// The keys macvlan, ipvlan and vlan share: `master`, `mtu` (0 = the master's),
    /// `linkInContainer`, `dns`; code 7 for a negative MTU or a missing required master.
    static func read(_ request: CNIRequest, masterRequirement: String? = nil, mac: MACAddress? = nil) throws(CNIError)
        -> SubInterfaceSettings
    {
        let reader = request.config.reader
        let master = try reader.string("master").flatMap { $0.isEmpty ? nil : $0 }
        if master == nil, let masterRequirement { throw CNIError.invalidConfig(masterRequirement) }
        return SubInterfaceSettings(
            master: master, mtu: try readMTU(reader), linkInContainer: try reader.bool("linkInContainer") ?? false,
            mac: mac, dns: request.config.dns)
    }
}

/// The smallest MTU the kernel gives an Ethernet device (ETH_MIN_MTU, IPv4's minimum).
let smallestMTU: UInt32 = 68

/// `mtu`: 0 or absent means the kernel's default; negative, oversized, or between 1 and 67
/// (which the kernel refuses with a bare EINVAL) is code 7.
func readMTU(_ reader: ConfigReader, maximum: UInt32 = UInt32.max) throws(CNIError) -> UInt32 {
    let mtu = try reader.integer("mtu", in: 0...maximum) ?? 0
    if mtu != 0 && mtu < smallestMTU {
        throw CNIError.invalidConfig(
            "\"\(reader.keyPath("mtu"))\": \(mtu) is below \(smallestMTU), the smallest MTU of an Ethernet device (0 or no mtu: the default)"
        )
    }
    return mtu
}

/// One of a fixed set of names (`mode`, `flag`): the default when absent or empty, code 7
/// listing the valid names otherwise.
func readChoice<Value>(
    _ reader: ConfigReader, _ key: String, what: String, default defaultValue: Value,
    _ choices: [(String, Value)]
) throws(CNIError) -> Value {
    let name = try reader.string(key) ?? ""
    if name.isEmpty { return defaultValue }
    guard let match = choices.first(where: { $0.0 == name }) else {
        throw CNIError.invalidConfig("unknown \(what) \"\(name)\" (valid: \(choices.map(\.0).joined(separator: ", ")))")
    }
    return match.1
}

/// The container interface's MAC from its sources, later ones winning: the config's `mac`,
/// CNI_ARGS `MAC`, then (bridge) `args.cni.mac`, then `runtimeConfig.mac`. A multicast or
/// all-zero address is code 7.
func readMAC(_ request: CNIRequest, includeArgsCNI: Bool) throws(CNIError) -> MACAddress? {
    var chosen = try request.config.reader.macAddress("mac")
    if request.command == .add || request.command == .check {
        let args = try request.cniArgs(knownKeys: ["MAC", "IP", "GATEWAY"])
        if let text = args["MAC"], !text.isEmpty {
            guard let parsed = MACAddress(text) else {
                throw CNIError.invalidConfig("CNI_ARGS MAC: invalid MAC address \"\(text)\"")
            }
            chosen = parsed
        }
    }
    if includeArgsCNI, let cni = try ConfigReader(request.config.args, path: "args").object("cni"),
        let parsed = try cni.macAddress("mac")
    {
        chosen = parsed
    }
    if let parsed = try ConfigReader(request.config.runtimeConfig, path: "runtimeConfig").macAddress("mac") {
        chosen = parsed
    }
    if let chosen, chosen.isMulticast || chosen.isZero {
        throw CNIError.invalidConfig("MAC address \(chosen) is not a unicast address")
    }
    return chosen
}
