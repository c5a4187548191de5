import CNI
import JSON
import Netlink

#if canImport(Glibc)
    import Glibc
#endif

/// The vlan plugin's config (reference keys): the shared ones with `master` required,
/// `vlanId` 0-4094; `ipam` is optional (without it the link is L2 only).
public struct VlanConfig {
    var settings: SubInterfaceSettings
    var vlanID: UInt16

    init(_ request: CNIRequest) throws(CNIError) {
        settings = try SubInterfaceSettings.read(
            request,
            masterRequirement:
                "\"master\" field is required. It specifies the host interface name to create the VLAN for")
        let id = try request.config.reader.int("vlanId") ?? 0
        guard (0...4094).contains(id) else {
            throw CNIError.invalidConfig("invalid VLAN ID \(id) (must be between 0 and 4094 inclusive)")
        }
        vlanID = UInt16(id)
    }
}

public struct VlanFlavor: SubInterfaceFlavor {
    public init() {}
    public static let kind = "vlan"
    public static let temporaryPrefix = "vl"
    public static let about = "swift-cni vlan: an 802.1Q VLAN sub-interface of a master placed in the container"

    public func readConfig(_ request: CNIRequest) throws -> VlanConfig { try VlanConfig(request) }

    public func settings(_ config: VlanConfig) -> SubInterfaceSettings { config.settings }

    public func linkKind(_ config: VlanConfig) -> LinkKind { .vlan(id: config.vlanID) }

    public func verify(_ link: Link, _ config: VlanConfig, ifName: String) throws {
        guard link.vlanID == config.vlanID else {
            throw CNIError(
                code: .checkFailed,
                msg:
                    "interface \"\(ifName)\" has VLAN ID \(link.vlanID.map(String.init) ?? "none"), not \(config.vlanID)"
            )
        }
        if config.settings.mtu != 0, link.mtu != config.settings.mtu {
            throw CNIError(
                code: .checkFailed, msg: "interface \"\(ifName)\" has MTU \(link.mtu), not \(config.settings.mtu)")
        }
    }

    /// EEXIST from RTM_NEWLINK for a vlan: the master has a VLAN with this id already
    /// (the kernel allows one per id and lower device).
    public func explainCreateFailure(_ error: NetlinkError, master: Link, config: VlanConfig) -> any Error {
        switch error.errno {
        case EOPNOTSUPP:
            CNIError(
                code: .kernelOperationFailed, msg: "the kernel does not support vlan (802.1Q) links",
                details: error.description)
        case EEXIST:
            CNIError(
                code: .kernelOperationFailed,
                msg: "master \"\(master.name)\" already has a VLAN with id \(config.vlanID)",
                details: error.description)
        default:
            error
        }
    }
}

/// The vlan plugin.
public typealias VlanPlugin = SubInterfacePlugin<VlanFlavor>
