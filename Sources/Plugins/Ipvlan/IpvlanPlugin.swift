import CNI
import JSON
import Netlink

#if canImport(Glibc)
    import Glibc
#endif

/// The ipvlan plugin's config: the shared keys, `mode` (l2, l3, l3s), and `flag`, ours, for the
/// kernel's bridge/private/vepa behaviour between ipvlans of one master (the reference cannot
/// set it).
public struct IpvlanConfig {
    var settings: SubInterfaceSettings
    var mode: IpvlanMode
    var flags: IpvlanFlags

    init(_ request: CNIRequest) throws(CNIError) {
        let reader = request.config.reader
        settings = try SubInterfaceSettings.read(request)
        mode = try reader.choice(
            "mode", what: "ipvlan mode", default: .l2, IpvlanMode.allCases.map { ($0.name, $0) })
        flags = try reader.choice(
            "flag", what: "ipvlan flag", default: [], [("bridge", []), ("private", .private), ("vepa", .vepa)])
    }
}

public struct IpvlanFlavor: SubInterfaceFlavor {
    public init() {}
    public static let kind = "ipvlan"
    public static let temporaryPrefix = "iv"
    public static let about =
        "swift-cni ipvlan: an ipvlan sub-interface (L2, L3 or L3S) of a master placed in the container"

    public func readConfig(_ request: CNIRequest) throws -> IpvlanConfig { try IpvlanConfig(request) }

    public func settings(_ config: IpvlanConfig) -> SubInterfaceSettings { config.settings }

    /// Chained after another plugin, the master is the single interface of prevResult.
    public func defaultMaster(_ config: IpvlanConfig, _ request: CNIRequest) -> String? {
        guard let previous = request.config.prevResult, previous.interfaces.count == 1,
            let name = previous.interfaces.first?.name, !name.isEmpty
        else { return nil }
        return name
    }

    public func linkKind(_ config: IpvlanConfig) -> LinkKind { .ipvlan(mode: config.mode, flags: config.flags) }

    public var addressesFromPreviousResult: Bool { true }

    public func verify(_ link: Link, _ config: IpvlanConfig, ifName: String) throws {
        guard link.ipvlanMode == config.mode else {
            throw CNIError(
                code: .checkFailed,
                msg:
                    "interface \"\(ifName)\" is in ipvlan mode \(link.ipvlanMode?.name ?? "unknown"), not \(config.mode.name)"
            )
        }
        guard (link.ipvlanFlags ?? []) == config.flags else {
            throw CNIError(code: .checkFailed, msg: "interface \"\(ifName)\" has other ipvlan flags than configured")
        }
    }

    /// EBUSY: the master carries a macvlan (the two cannot share a lower device).
    public func explainCreateFailure(_ error: NetlinkError, master: Link, config: IpvlanConfig) -> any Error {
        switch error.errno {
        case EOPNOTSUPP:
            CNIError(
                code: .kernelOperationFailed, msg: "the kernel does not support ipvlan links",
                details: error.description)
        case EBUSY:
            CNIError(
                code: .kernelOperationFailed,
                msg: "master \"\(master.name)\" cannot take an ipvlan: it carries a macvlan",
                details: error.description)
        default:
            error
        }
    }
}

/// The ipvlan plugin.
public typealias IpvlanPlugin = SubInterfacePlugin<IpvlanFlavor>
