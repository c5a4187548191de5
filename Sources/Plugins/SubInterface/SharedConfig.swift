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
            master: master, mtu: try reader.mtu(), linkInContainer: try reader.bool("linkInContainer") ?? false,
            mac: mac, dns: request.config.dns)
    }
}
