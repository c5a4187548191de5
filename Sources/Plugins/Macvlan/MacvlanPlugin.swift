import CNI
import Netlink

#if canImport(Glibc)
    import Glibc
#endif

/// The macvlan plugin: a macvlan link on a master, in any of the kernel's modes.
public typealias MacvlanPlugin = SubInterfacePlugin<MacvlanFlavor>

public struct MacvlanFlavor: SubInterfaceFlavor {
    public init() {}
    public static let kind = "macvlan"
    public static let temporaryPrefix = "mv"
    public static let about = "swift-cni macvlan: a macvlan sub-interface of a master placed in the container"

    public func readConfig(_ request: CNIRequest) throws -> MacvlanConfig { try MacvlanConfig(request) }

    public func settings(_ config: MacvlanConfig) -> SubInterfaceSettings { config.settings }

    public func linkKind(_ config: MacvlanConfig) -> LinkKind {
        .macvlan(mode: config.mode, broadcastQueueLength: config.broadcastQueueLength)
    }

    public func verify(_ link: Link, _ config: MacvlanConfig, ifName: String) throws {
        guard link.macvlanMode == config.mode else {
            throw CNIError(
                code: .checkFailed,
                msg:
                    "interface \"\(ifName)\" is in macvlan mode \(link.macvlanMode?.name ?? "unknown"), not \(config.mode.name)"
            )
        }
    }

    /// What RTM_NEWLINK's errno means here: EOPNOTSUPP, no macvlan in the kernel; EBUSY, the
    /// master carries an ipvlan; EINVAL on a master that has macvlans, a passthru one among them
    /// or passthru asked for (passthru takes the whole device).
    public func explainCreateFailure(_ error: NetlinkError, master: Link, config: MacvlanConfig) -> any Error {
        switch error.errno {
        case EOPNOTSUPP:
            return CNIError(
                code: .kernelOperationFailed, msg: "the kernel does not support macvlan links",
                details: error.description)
        case EBUSY:
            return CNIError(
                code: .kernelOperationFailed,
                msg: "master \"\(master.name)\" cannot take a macvlan: it carries an ipvlan", details: error.description
            )
        case EINVAL where config.mode == .passthru:
            return CNIError(
                code: .kernelOperationFailed,
                msg:
                    "master \"\(master.name)\" cannot take a passthru macvlan: it has macvlans already, and passthru needs the master to itself",
                details: error.description)
        case EINVAL:
            return CNIError(
                code: .kernelOperationFailed,
                msg:
                    "master \"\(master.name)\" refused the macvlan (EINVAL): a passthru macvlan on it takes the whole device, or the device cannot carry macvlans",
                details: error.description)
        default:
            return error
        }
    }
}
