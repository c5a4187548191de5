import Addressing
import CNI
import KernelErrors
import Namespaces
import Netlink
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// The settings every sub-interface plugin (macvlan, ipvlan, vlan) shares, read from its config.
public struct SubInterfaceSettings {
    /// nil: the interface of the host's default route (or what the flavor says).
    var master: String?
    /// 0: the kernel's default (the master's MTU).
    var mtu: UInt32
    /// The master lives in the container netns; the link is created there.
    var linkInContainer: Bool
    var mac: MACAddress?
    var dns: DNS?
}

/// What makes macvlan, ipvlan and vlan differ; `SubInterfacePlugin` does the rest.
public protocol SubInterfaceFlavor: Sendable {
    associatedtype Config
    init()
    /// IFLA_INFO_KIND of the links this plugin makes.
    static var kind: String { get }
    /// Prefix of the temporary name 0.1 created the link under before renaming it to CNI_IFNAME
    /// (DEL still removes a link a killed ADD of 0.1 left under it).
    static var temporaryPrefix: String { get }
    static var about: String { get }

    func readConfig(_ request: CNIRequest) throws -> Config
    func settings(_ config: Config) -> SubInterfaceSettings
    /// The master to use when the config names none (nil: the default-route interface).
    func defaultMaster(_ config: Config, _ request: CNIRequest) -> String?
    func linkKind(_ config: Config) -> LinkKind
    /// CHECK of the kind-specific attributes (mode, flags, VLAN id ...), code 103 on a mismatch.
    func verify(_ link: Link, _ config: Config, ifName: String) throws
    /// Turns RTM_NEWLINK's failure into a message that says what it means for this kind.
    func explainCreateFailure(_ error: NetlinkError, master: Link, config: Config) -> any Error
    /// Chained without IPAM, the link takes prevResult's addresses and routes (ipvlan).
    var addressesFromPreviousResult: Bool { get }
}

extension SubInterfaceFlavor {
    public func defaultMaster(_ config: Config, _ request: CNIRequest) -> String? { nil }
    public var addressesFromPreviousResult: Bool { false }

    public func explainCreateFailure(_ error: NetlinkError, master: Link, config: Config) -> any Error {
        switch error.errno {
        case EOPNOTSUPP:
            CNIError(
                code: .kernelOperationFailed, msg: "the kernel does not support \(Self.kind) links",
                details: error.description)
        default:
            error
        }
    }
}

/// A plugin that puts a sub-interface of a master into the container: macvlan, ipvlan, vlan.
public struct SubInterfacePlugin<Flavor: SubInterfaceFlavor>: CNIPlugin {
    let flavor = Flavor()
    /// What the plugin does to the system goes through its host (the kernel, or a test's fake).
    let host: any PluginHost
    public init(host: any PluginHost = SystemHost()) { self.host = host }
    public var about: String { Flavor.about }

    private func masterPlace(_ settings: SubInterfaceSettings, _ env: CNIEnvironment) -> String {
        settings.linkInContainer ? "netns \(env.netns)" : "the host netns"
    }

    /// ADD, every step undone if a later one fails: create the link as CNI_IFNAME directly in
    /// the container (IFLA_NET_NS_FD), IPAM ADD, arp_notify/ndisc_notify, addresses, up, routes.
    /// A killed ADD leaves at most a link of this kind under CNI_IFNAME, which DEL removes.
    public func add(_ request: CNIRequest) throws -> CNIResult {
        try host.holdingAttachmentLock(request, forDelete: false) { try addLocked(request) }
    }

    private func addLocked(_ request: CNIRequest) throws -> CNIResult {
        let config = try flavor.readConfig(request)
        let settings = flavor.settings(config)
        let env = request.environment
        let sessions = try ContainerInterface.Sessions(
            env, host: host, hostIsContainer: settings.linkInContainer, refusingExisting: false)
        let (container, containerNetlink, hostNetlink) =
            (sessions.container, sessions.containerNetlink, sessions.hostNetlink)
        let master = try MasterResolution.resolve(
            settings.master ?? flavor.defaultMaster(config, request), hostNetlink,
            namespaceDescription: masterPlace(settings, env))
        if master.flags & UInt32(IFF_LOOPBACK) != 0 {
            throw CNIError.invalidConfig(
                "master \"\(master.name)\" is a loopback device, which cannot carry a \(Flavor.kind) link")
        }
        if settings.mtu > master.mtu {
            throw CNIError.invalidConfig(
                "invalid MTU \(settings.mtu): it must not exceed the master's (\"\(master.name)\", MTU \(master.mtu))")
        }

        return try Rollback.guarding { rollback in
            let link = try createLink(config, settings, master: master, sessions, env)
            rollback.add("delete link \(env.ifName)") { try containerNetlink.deleteLink(index: link.index) }
            try host.checkpoint("create")

            var result = CNIResult(cniVersion: request.config.cniVersion)
            if let ipamResult = try host.addIPAM(request, interfaceIndex: 0, rollback: &rollback) {
                result = ipamResult
            } else if flavor.addressesFromPreviousResult, let previous = request.config.prevResult,
                !previous.ips.isEmpty
            {
                result.ips = previous.ips.map {
                    CNIResult.IPConfig(address: $0.address, gateway: $0.gateway, interface: 0)
                }
                result.routes = previous.routes
                result.dns = previous.dns
            }
            let configuration = InterfaceConfiguration(netlink: containerNetlink, namespace: container, host: host)
            if result.ips.isEmpty {
                try containerNetlink.setLink(index: link.index, up: true)
                try host.checkpoint("up")
            } else {
                try configuration.enableNeighbourNotifications(interfaceName: env.ifName)
                try host.checkpoint("sysctl")
                try configuration.apply(result, interfaceIndexInResult: 0, link: link)
            }
            if let dns = settings.dns, !dns.isEmpty { result.dns = dns }
            result.interfaces = [
                CNIResult.Interface(
                    name: env.ifName, mac: link.address?.description,
                    mtu: Int(link.mtu), sandbox: env.netns)
            ]
            try result.ensurePrintable(for: request)
            return result
        }
    }

    /// RTM_NEWLINK from the master's namespace, made directly in the container
    /// (IFLA_NET_NS_FD) under CNI_IFNAME, then RTM_GETLINK of it there for its index, MAC and
    /// MTU. EEXIST is CNI_IFNAME already in the container (code 4, naming it) when the name is
    /// there, else the flavor's meaning of it (vlan: the master has that VLAN id already).
    private func createLink(
        _ config: Flavor.Config, _ settings: SubInterfaceSettings, master: Link,
        _ sessions: ContainerInterface.Sessions, _ env: CNIEnvironment
    ) throws -> Link {
        do throws(NetlinkError) {
            try sessions.hostNetlink.createLink(
                LinkRequest(
                    name: env.ifName, kind: flavor.linkKind(config), parentIndex: master.index,
                    mtu: settings.mtu == 0 ? nil : settings.mtu, address: settings.mac,
                    namespaceFD: settings.linkInContainer ? nil : sessions.container.fileDescriptor))
        } catch {
            if error.errno == EEXIST { try ContainerInterface.refuseExisting(env, in: sessions.containerNetlink) }
            throw flavor.explainCreateFailure(error, master: master, config: config)
        }
        guard let link = try sessions.containerNetlink.link(named: env.ifName) else {
            throw CNIError(
                code: .kernelOperationFailed,
                msg: "\(Flavor.kind) \"\(env.ifName)\" vanished from netns \(env.netns) after creation")
        }
        return link
    }

    /// DEL: IPAM DEL first, then the link (under CNI_IFNAME, or under the attachment's
    /// temporary name, which 0.1 releases created the link under and then renamed:
    /// what an ADD of theirs killed before the rename left). Succeeds when CNI_NETNS is
    /// empty, the namespace or the link is gone, the master is gone (the kernel removed the
    /// link with it), or DEL runs twice. Only a link of this plugin's kind is deleted.
    public func delete(_ request: CNIRequest) throws {
        try host.holdingAttachmentLock(request, forDelete: true) { try deleteLocked(request) }
    }

    private func deleteLocked(_ request: CNIRequest) throws {
        _ = try host.runIPAM(.delete, request)
        let env = request.environment
        try ContainerInterface.delete(env, kind: Flavor.kind, temporaryName: Self.temporaryName(env), host: host)
    }

    /// The attachment's temporary link name of earlier releases (created under it, then renamed
    /// to CNI_IFNAME): DEL still removes a link left under it.
    static func temporaryName(_ env: CNIEnvironment) -> String {
        TemporaryName.make(prefix: Flavor.temporaryPrefix, containerID: env.containerID, ifName: env.ifName)
    }

    /// CHECK: the interface of prevResult is in CNI_NETNS, of this kind with the configured
    /// mode, with prevResult's MAC, on the master, with its addresses and routes; then IPAM CHECK.
    public func check(_ request: CNIRequest) throws {
        let config = try flavor.readConfig(request)
        let settings = flavor.settings(config)
        guard let previous = request.config.prevResult else {
            throw CNIError.invalidConfig("required prevResult missing")
        }
        let env = request.environment
        guard
            let interfaceIndex = previous.interfaces.firstIndex(where: {
                ExactName.equal($0.name, env.ifName) && $0.sandbox != nil
            })
        else {
            throw CNIError(code: .checkFailed, msg: "prevResult has no interface \"\(env.ifName)\" in a sandbox")
        }
        let recorded = previous.interfaces[interfaceIndex]
        guard recorded.sandbox == env.netns else {
            throw CNIError(
                code: .checkFailed,
                msg: "interface \"\(env.ifName)\" was recorded in \(recorded.sandbox ?? ""), not in \(env.netns)")
        }
        _ = try host.runIPAM(.check, request)
        let container = try host.openNamespace(env.netns)
        let netlink = try container.netlink()
        let masterNetlink = settings.linkInContainer ? netlink : try host.hostNetlink()
        // Chained without a master, ADD took prevResult's interface as the master; at CHECK
        // prevResult lists our own link instead, so the master cannot be named again: only a
        // configured (or default-route) master is compared.
        let chainedMaster = settings.master == nil && flavor.defaultMaster(config, request) != nil
        let master =
            chainedMaster
            ? nil
            : try MasterResolution.resolve(
                settings.master, masterNetlink,
                namespaceDescription: masterPlace(settings, env))
        guard let link = try netlink.link(named: env.ifName) else {
            throw CNIError(code: .checkFailed, msg: "interface \"\(env.ifName)\" not found in netns \(env.netns)")
        }
        guard link.kind == Flavor.kind else {
            throw CNIError(
                code: .checkFailed,
                msg: "interface \"\(env.ifName)\" is a \(link.kind ?? "device without a kind"), not a \(Flavor.kind)")
        }
        try flavor.verify(link, config, ifName: env.ifName)
        if let master, link.parentIndex != master.index {
            throw CNIError(code: .checkFailed, msg: "interface \"\(env.ifName)\" is not on master \"\(master.name)\"")
        }
        if let mac = recorded.mac, !mac.isEmpty, MACAddress(mac) != link.address {
            throw CNIError(
                code: .checkFailed,
                msg:
                    "interface \"\(env.ifName)\" has MAC \(link.address?.description ?? "none"), prevResult says \(mac)"
            )
        }
        try InterfaceConfiguration(netlink: netlink, namespace: container, host: host)
            .verify(previous, interfaceIndexInResult: interfaceIndex, link: link)
    }

    /// GC: the link keeps no state of its own; forwarded to IPAM.
    public func garbageCollect(_ request: CNIRequest) throws {
        _ = try host.runIPAM(.garbageCollect, request)
    }

    /// STATUS: code 50 when the master (or, without one, a default route) is missing in the
    /// host netns; then forwarded to IPAM.
    public func status(_ request: CNIRequest) throws {
        let config = try flavor.readConfig(request)
        let settings = flavor.settings(config)
        if !settings.linkInContainer {
            do {
                _ = try MasterResolution.resolve(
                    settings.master ?? flavor.defaultMaster(config, request), try host.hostNetlink(),
                    namespaceDescription: "the host netns")
            } catch let error as CNIError {
                throw CNIError(code: .pluginNotAvailable, msg: error.msg, details: error.details)
            }
        }
        _ = try host.runIPAM(.status, request)
    }
}
