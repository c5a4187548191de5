import Addressing
import JSON

/// The smallest MTU the kernel gives an Ethernet device (ETH_MIN_MTU, IPv4's minimum).
public let smallestMTU: UInt32 = 68

extension ConfigReader {
    /// `mtu`: 0 or absent means the kernel's default; negative, above `maximum`, or between 1
    /// and 67 (which the kernel refuses with a bare EINVAL) is code 7.
    public func mtu(maximum: UInt32 = UInt32.max) throws(CNIError) -> UInt32 {
        let mtu = try integer("mtu", in: 0...maximum) ?? 0
        if mtu != 0 && mtu < smallestMTU {
            throw CNIError.invalidConfig(
                "\"\(keyPath("mtu"))\": \(mtu) is below \(smallestMTU), the smallest MTU of an Ethernet device (0 or no mtu: the default)"
            )
        }
        return mtu
    }

    /// One of a fixed set of names (`mode`, `flag`, `ipMasqBackend`): `defaultValue` when
    /// absent or empty, code 7 listing the valid names otherwise.
    public func choice<Value>(
        _ key: String, what: String, default defaultValue: Value, _ choices: [(String, Value)]
    ) throws(CNIError) -> Value {
        let name = try string(key) ?? ""
        if name.isEmpty { return defaultValue }
        guard let match = choices.first(where: { $0.0 == name }) else {
            throw CNIError.invalidConfig(
                "unknown \(what) \"\(name)\" (valid: \(choices.map(\.0).joined(separator: ", ")))")
        }
        return match.1
    }
}

extension CNIRequest {
    /// The container interface's MAC from its sources, later ones winning: the config's `mac`,
    /// CNI_ARGS `MAC` (ADD and CHECK), then (with `includeArgsCNI`, as bridge) `args.cni.mac`,
    /// then `runtimeConfig.mac`. A multicast or all-zero address is code 7.
    public func containerMAC(includeArgsCNI: Bool) throws(CNIError) -> MACAddress? {
        var chosen = try config.reader.macAddress("mac")
        if command == .add || command == .check {
            let args = try cniArgs(knownKeys: ["MAC", "IP", "GATEWAY"])
            if let text = args["MAC"], !text.isEmpty {
                guard let parsed = MACAddress(text) else {
                    throw CNIError.invalidConfig("CNI_ARGS MAC: invalid MAC address \"\(text)\"")
                }
                chosen = parsed
            }
        }
        if includeArgsCNI, let cni = try ConfigReader(config.args, path: "args").object("cni"),
            let parsed = try cni.macAddress("mac")
        {
            chosen = parsed
        }
        if let parsed = try ConfigReader(config.runtimeConfig, path: "runtimeConfig").macAddress("mac") {
            chosen = parsed
        }
        if let chosen, chosen.isMulticast || chosen.isZero {
            throw CNIError.invalidConfig("MAC address \(chosen) is not a unicast address")
        }
        return chosen
    }

    /// The addresses a runtime asks the IPAM for, per source in order: `args.cni.ips` (the
    /// `ips` convention), then `runtimeConfig.ips` (the `ips` capability); each a list of
    /// strings, code 7 naming the source otherwise. Sources that are absent or null are left out.
    public func requestedIPs() throws(CNIError) -> [(source: String, values: [String])] {
        var lists: [(source: String, values: [String])] = []
        for (source, list) in [
            ("args.cni.ips", config.args["cni"]?["ips"]), ("runtimeConfig.ips", config.runtimeConfig["ips"]),
        ] {
            guard let list, !list.isNull else { continue }
            guard let entries = list.arrayValue else {
                throw CNIError.invalidConfig("\"\(source)\": expected an array, found \(list.kindName)")
            }
            var values: [String] = []
            for entry in entries {
                guard let text = entry.stringValue else {
                    throw CNIError.invalidConfig("\"\(source)\": expected strings, found \(entry.kindName)")
                }
                values.append(text)
            }
            lists.append((source, values))
        }
        return lists
    }
}
