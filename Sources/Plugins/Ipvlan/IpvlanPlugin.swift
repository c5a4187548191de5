import CNI
import JSON
import Netlink
#if canImport(Glibc)
import Glibc
#endif

/// The ipvlan plugin's config: the reference's keys plus `flag`, ours, for the kernel's
/// bridge/private/vepa behaviour between ipvlans of one master (the reference cannot set it).
struct IpvlanConfig {
    var master: String?
    var mode: IpvlanMode
    var flags: IpvlanFlags
    var mtu: UInt32
    var linkInContainer: Bool
    var dns: DNS?

    static let flagNames: [(String, IpvlanFlags)] = [("bridge", []), ("private", .private), ("vepa", .vepa)]

    init(_ request: CNIRequest) throws(CNIError) {
        let reader = request.config.reader
        master = try reader.string("master").flatMap { $0.isEmpty ? nil : $0 }
        let modeName = try reader.string("mode") ?? ""
        if modeName.isEmpty {
            mode = .l2
        } else if let parsed = IpvlanMode(name: modeName) {
            mode = parsed
        } else {
            throw CNIError.invalidConfig("unknown ipvlan mode \"\(modeName)\" (valid: \(IpvlanMode.allCases.map(\.name).joined(separator: ", ")))")
        }
        let flagName = try reader.string("flag") ?? ""
        if flagName.isEmpty {
            flags = []
        } else if let match = Self.flagNames.first(where: { $0.0 == flagName }) {
            flags = match.1
        } else {
            throw CNIError.invalidConfig("unknown ipvlan flag \"\(flagName)\" (valid: \(Self.flagNames.map(\.0).joined(separator: ", ")))")
        }
        let mtuValue = try reader.int("mtu") ?? 0
        guard mtuValue >= 0, mtuValue <= Int(UInt32.max) else {
            throw CNIError.invalidConfig("invalid MTU \(mtuValue): it must be 0 (the master's) or positive")
        }
        mtu = UInt32(mtuValue)
        linkInContainer = try reader.bool("linkInContainer") ?? false
        dns = request.config.dns
    }
}

struct IpvlanFlavor: SubInterfaceFlavor {
    static let kind = "ipvlan"
    static let temporaryPrefix = "iv"
    static let about = "swift-cni ipvlan: an ipvlan sub-interface (L2, L3 or L3S) of a master placed in the container"

    func readConfig(_ request: CNIRequest) throws -> IpvlanConfig { try IpvlanConfig(request) }

    func settings(_ config: IpvlanConfig) -> SubInterfaceSettings {
        SubInterfaceSettings(master: config.master, mtu: config.mtu, linkInContainer: config.linkInContainer, mac: nil, dns: config.dns)
    }

    /// Chained after another plugin, the master is the single interface of prevResult.
    func defaultMaster(_ config: IpvlanConfig, _ request: CNIRequest) -> String? {
        guard let previous = request.config.prevResult, previous.interfaces.count == 1,
              let name = previous.interfaces.first?.name, !name.isEmpty else { return nil }
        return name
    }

    func linkKind(_ config: IpvlanConfig) -> LinkKind { .ipvlan(mode: config.mode, flags: config.flags) }

    var addressesFromPreviousResult: Bool { true }

    func verify(_ link: Link, _ config: IpvlanConfig, ifName: String) throws {
        guard link.ipvlanMode == config.mode else {
            throw CNIError(code: .checkFailed,
                           msg: "interface \"\(ifName)\" is in ipvlan mode \(link.ipvlanMode?.name ?? "unknown"), not \(config.mode.name)")
        }
        guard (link.ipvlanFlags ?? []) == config.flags else {
            throw CNIError(code: .checkFailed, msg: "interface \"\(ifName)\" has other ipvlan flags than configured")
        }
    }

    /// EBUSY: the master carries a macvlan (the two cannot share a lower device).
    func explainCreateFailure(_ error: NetlinkError, master: Link, config: IpvlanConfig) -> any Error {
        switch error.errno {
        case EOPNOTSUPP:
            CNIError(code: .kernelOperationFailed, msg: "the kernel does not support ipvlan links", details: error.description)
        case EBUSY:
            CNIError(code: .kernelOperationFailed, msg: "master \"\(master.name)\" cannot take an ipvlan: it carries a macvlan",
                     details: error.description)
        default:
            error
        }
    }
}

/// The ipvlan plugin.
public struct IpvlanPlugin: CNIPlugin {
    private let plugin = SubInterfacePlugin(flavor: IpvlanFlavor())
    public init() {}
    public var about: String { plugin.about }
    public func add(_ request: CNIRequest) throws -> CNIResult { try plugin.add(request) }
    public func delete(_ request: CNIRequest) throws { try plugin.delete(request) }
    public func check(_ request: CNIRequest) throws { try plugin.check(request) }
    public func garbageCollect(_ request: CNIRequest) throws { try plugin.garbageCollect(request) }
    public func status(_ request: CNIRequest) throws { try plugin.status(request) }
}
