import CNI
import JSON
import Netlink
#if canImport(Glibc)
import Glibc
#endif

/// The vlan plugin's config (reference keys): `master` (required), `vlanId` 0-4094, `mtu`,
/// `linkInContainer`, `ipam` (optional: without it the link is L2 only), `dns`.
struct VlanConfig {
    var master: String
    var vlanID: UInt16
    var mtu: UInt32
    var linkInContainer: Bool
    var dns: DNS?

    init(_ request: CNIRequest) throws(CNIError) {
        let reader = request.config.reader
        guard let master = try reader.string("master"), !master.isEmpty else {
            throw CNIError.invalidConfig("\"master\" field is required. It specifies the host interface name to create the VLAN for")
        }
        self.master = master
        let id = try reader.int("vlanId") ?? 0
        guard (0...4094).contains(id) else {
            throw CNIError.invalidConfig("invalid VLAN ID \(id) (must be between 0 and 4094 inclusive)")
        }
        vlanID = UInt16(id)
        let mtuValue = try reader.int("mtu") ?? 0
        guard mtuValue >= 0, mtuValue <= Int(UInt32.max) else {
            throw CNIError.invalidConfig("invalid MTU \(mtuValue): it must be 0 (the master's) or positive")
        }
        mtu = UInt32(mtuValue)
        linkInContainer = try reader.bool("linkInContainer") ?? false
        dns = request.config.dns
    }
}

struct VlanFlavor: SubInterfaceFlavor {
    static let kind = "vlan"
    static let temporaryPrefix = "vl"
    static let about = "swift-cni vlan: an 802.1Q VLAN sub-interface of a master placed in the container"

    func readConfig(_ request: CNIRequest) throws -> VlanConfig { try VlanConfig(request) }

    func settings(_ config: VlanConfig) -> SubInterfaceSettings {
        SubInterfaceSettings(master: config.master, mtu: config.mtu, linkInContainer: config.linkInContainer, mac: nil, dns: config.dns)
    }

    func linkKind(_ config: VlanConfig) -> LinkKind { .vlan(id: config.vlanID) }

    func verify(_ link: Link, _ config: VlanConfig, ifName: String) throws {
        guard link.vlanID == config.vlanID else {
            throw CNIError(code: .checkFailed, msg: "interface \"\(ifName)\" has VLAN ID \(link.vlanID.map(String.init) ?? "none"), not \(config.vlanID)")
        }
        if config.mtu != 0, link.mtu != config.mtu {
            throw CNIError(code: .checkFailed, msg: "interface \"\(ifName)\" has MTU \(link.mtu), not \(config.mtu)")
        }
    }

    /// EEXIST from RTM_NEWLINK for a vlan: the master has a VLAN with this id already
    /// (the kernel allows one per id and lower device).
    func explainCreateFailure(_ error: NetlinkError, master: Link, config: VlanConfig) -> any Error {
        switch error.errno {
        case EOPNOTSUPP:
            CNIError(code: .kernelOperationFailed, msg: "the kernel does not support vlan (802.1Q) links", details: error.description)
        case EEXIST:
            CNIError(code: .kernelOperationFailed, msg: "master \"\(master.name)\" already has a VLAN with id \(config.vlanID)",
                     details: error.description)
        default:
            error
        }
    }
}

/// The vlan plugin.
public struct VlanPlugin: CNIPlugin {
    private let plugin = SubInterfacePlugin(flavor: VlanFlavor())
    public init() {}
    public var about: String { plugin.about }
    public func add(_ request: CNIRequest) throws -> CNIResult { try plugin.add(request) }
    public func delete(_ request: CNIRequest) throws { try plugin.delete(request) }
    public func check(_ request: CNIRequest) throws { try plugin.check(request) }
    public func garbageCollect(_ request: CNIRequest) throws { try plugin.garbageCollect(request) }
    public func status(_ request: CNIRequest) throws { try plugin.status(request) }
}
