import Addressing
import CNI
import Firewall
import JSON

/// The bridge plugin's config keys, as the reference (plugins/main/bridge, v1.9) reads them.
struct BridgeConfig {
    var bridge: String
    var isGateway: Bool
    var isDefaultGateway: Bool
    var forceAddress: Bool
    var ipMasq: Bool
    /// `ipMasqBackend`; nil: upstream's default (see `PluginHost.masqueradeFirewall(_:)`).
    var ipMasqBackend: MasqueradeBackend?
    var mtu: UInt32
    var hairpinMode: Bool
    var promiscMode: Bool
    /// The access VLAN (PVID, untagged); 0: none.
    var vlan: UInt16
    var vlanTrunk: [(first: UInt16, last: UInt16)]
    var preserveDefaultVlan: Bool
    var macSpoofCheck: Bool
    var enableDAD: Bool
    var disableContainerInterface: Bool
    var portIsolation: Bool
    /// After precedence: config `mac` < CNI_ARGS MAC < args.cni.mac < runtimeConfig.mac.
    var mac: MACAddress?
    var dns: DNS?

    var usesVLANs: Bool { vlan != 0 || !vlanTrunk.isEmpty }

    init(_ request: CNIRequest) throws(CNIError) {
        let reader = request.config.reader
        bridge = try reader.string("bridge").flatMap { $0.isEmpty ? nil : $0 } ?? "cni0"
        do {
            try CNIEnvironment.validateInterfaceName(bridge)
        } catch {
            throw CNIError.invalidConfig("invalid bridge name \"\(bridge)\": \(error.msg)")
        }
        isDefaultGateway = try reader.bool("isDefaultGateway") ?? false
        isGateway = try reader.bool("isGateway") ?? false || isDefaultGateway
        forceAddress = try reader.bool("forceAddress") ?? false
        ipMasq = try reader.bool("ipMasq") ?? false
        ipMasqBackend = try reader.choice(
            "ipMasqBackend", what: "ipMasqBackend", default: nil,
            [("iptables", .iptables), ("nftables", .nftables)])
        mtu = try reader.mtu(maximum: 65535)
        hairpinMode = try reader.bool("hairpinMode") ?? false
        promiscMode = try reader.bool("promiscMode") ?? false
        if hairpinMode && promiscMode {
            throw CNIError.invalidConfig("cannot set hairpin mode and promiscuous mode at the same time")
        }
        let vlanValue = try reader.int("vlan") ?? 0
        guard (0...4094).contains(vlanValue) else {
            throw CNIError.invalidConfig("invalid VLAN ID \(vlanValue) (must be between 0 and 4094)")
        }
        vlan = UInt16(vlanValue)
        var trunk: [(first: UInt16, last: UInt16)] = []
        for entry in try reader.objects("vlanTrunk") ?? [] {
            let id = try entry.int("id")
            let minID = try entry.int("minID")
            let maxID = try entry.int("maxID")
            if let id {
                guard (1...4094).contains(id) else {
                    throw CNIError.invalidConfig("\(entry.path): invalid VLAN ID \(id) (must be between 1 and 4094)")
                }
                trunk.append((UInt16(id), UInt16(id)))
            }
            if minID != nil || maxID != nil {
                guard let minID, let maxID else {
                    throw CNIError.invalidConfig("\(entry.path): minID and maxID must be given together")
                }
                guard (1...4094).contains(minID), (1...4094).contains(maxID), minID <= maxID else {
                    throw CNIError.invalidConfig(
                        "\(entry.path): invalid VLAN range \(minID)-\(maxID) (1-4094, minID <= maxID)")
                }
                trunk.append((UInt16(minID), UInt16(maxID)))
            }
            if id == nil && minID == nil && maxID == nil {
                throw CNIError.invalidConfig("\(entry.path): give \"id\" or \"minID\" and \"maxID\"")
            }
        }
        vlanTrunk = trunk
        preserveDefaultVlan = try reader.bool("preserveDefaultVlan") ?? false  // upstream's default since v1.8
        macSpoofCheck = try reader.bool("macspoofchk") ?? false
        enableDAD = try reader.bool("enabledad") ?? false
        disableContainerInterface = try reader.bool("disableContainerInterface") ?? false
        portIsolation = try reader.bool("portIsolation") ?? false
        dns = request.config.dns

        mac = try request.containerMAC(includeArgsCNI: true)
    }
}

/// The firewall behind `ipMasq`.
public enum MasqueradeBackend: Sendable {
    case iptables
    case nftables
}
