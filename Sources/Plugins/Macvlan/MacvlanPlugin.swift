import Addressing
import CNI
import Namespaces
import Netlink
#if canImport(Glibc)
import Glibc
#endif

/// The macvlan plugin: a macvlan link on a master in the host (or, with `linkInContainer`,
/// in the container) namespace, placed in the container as CNI_IFNAME, with its IPAM's
/// addresses and routes.
public struct MacvlanPlugin: CNIPlugin {
    public init() {}
    public var about: String { "swift-cni macvlan: a macvlan sub-interface of a master placed in the container" }

    /// ADD, every step undone if a later one fails:
    /// create under a temporary name directly in the container (IFLA_NET_NS_FD), rename to
    /// CNI_IFNAME, IPAM ADD, arp_notify/ndisc_notify, addresses, up, routes.
    public func add(_ request: CNIRequest) throws -> CNIResult {
        let config = try MacvlanConfig(request)
        let env = request.environment
        let container = try NetworkNamespace(path: env.netns)
        let containerNetlink = try RouteNetlink(in: container)
        let hostNetlink = try RouteNetlink()
        let masterNetlink = config.linkInContainer ? containerNetlink : hostNetlink
        let masterPlace = config.linkInContainer ? "netns \(env.netns)" : "the host netns"

        if try containerNetlink.link(named: env.ifName) != nil {
            throw CNIError(code: .invalidEnvironment, msg: "interface \"\(env.ifName)\" already exists in netns \(env.netns)")
        }
        let master = try MasterResolution.resolve(config.master, masterNetlink, namespaceDescription: masterPlace)
        if config.mtu > master.mtu {
            throw CNIError.invalidConfig("invalid MTU \(config.mtu): it must not exceed the master's (\"\(master.name)\", MTU \(master.mtu))")
        }

        var rollback = Rollback()
        do {
            let temporaryName = TemporaryName.make(prefix: "mv")
            do {
                try masterNetlink.createLink(LinkRequest(
                    name: temporaryName, kind: .macvlan(mode: config.mode, broadcastQueueLength: config.broadcastQueueLength),
                    parentIndex: master.index, mtu: config.mtu == 0 ? nil : config.mtu, address: config.mac,
                    namespaceFD: config.linkInContainer ? nil : container.fileDescriptor))
            } catch {
                throw Self.explainCreateFailure(error, master: master)
            }
            guard let created = try containerNetlink.link(named: temporaryName) else {
                throw CNIError(code: .kernelOperationFailed, msg: "macvlan \"\(temporaryName)\" vanished from netns \(env.netns) after creation")
            }
            rollback.add { try? containerNetlink.deleteLink(index: created.index) }
            try containerNetlink.renameLink(index: created.index, to: env.ifName)

            var result = CNIResult(cniVersion: request.config.cniVersion)
            if let ipamType = request.config.ipamType {
                guard let ipamResult = try Delegation.run(type: ipamType, command: .add, request: request) else {
                    throw CNIError(code: .delegateFailed, msg: "IPAM plugin \"\(ipamType)\" returned no result")
                }
                rollback.add { _ = try? Delegation.run(type: ipamType, command: .delete, request: request) }
                guard !ipamResult.ips.isEmpty else {
                    throw CNIError(code: .delegateFailed, msg: "IPAM plugin \"\(ipamType)\" returned no IP configuration")
                }
                result.ips = ipamResult.ips.map { CNIResult.IPConfig(address: $0.address, gateway: $0.gateway, interface: 0) }
                result.routes = ipamResult.routes
                result.dns = ipamResult.dns
            }
            guard let link = try containerNetlink.link(index: created.index) else {
                throw CNIError(code: .kernelOperationFailed, msg: "link \"\(env.ifName)\" vanished from netns \(env.netns)")
            }
            let configuration = InterfaceConfiguration(netlink: containerNetlink, namespace: container)
            if result.ips.isEmpty {
                try containerNetlink.setLink(index: link.index, up: true)
            } else {
                try configuration.enableNeighbourNotifications(interfaceName: env.ifName)
                try configuration.apply(result, interfaceIndexInResult: 0, link: link)
            }
            if let dns = config.dns, !dns.isEmpty { result.dns = dns }
            result.interfaces = [CNIResult.Interface(name: env.ifName, mac: link.address?.description,
                                                     mtu: Int(link.mtu), sandbox: env.netns)]
            rollback.disarm()
            return result
        } catch {
            rollback.run()
            throw error
        }
    }

    /// EOPNOTSUPP from RTM_NEWLINK means the kernel has no macvlan; EBUSY that the master
    /// already carries an ipvlan (the two cannot share a lower device).
    static func explainCreateFailure(_ error: NetlinkError, master: Link) -> any Error {
        switch error.errno {
        case EOPNOTSUPP:
            return CNIError(code: .kernelOperationFailed, msg: "the kernel does not support macvlan links", details: error.description)
        case EBUSY:
            return CNIError(code: .kernelOperationFailed,
                            msg: "master \"\(master.name)\" cannot take a macvlan (it may carry an ipvlan)", details: error.description)
        default:
            return error
        }
    }

    /// DEL: IPAM DEL first, then the link. Succeeds when CNI_NETNS is empty, the namespace or
    /// the link is gone, the master is gone, or DEL runs twice.
    public func delete(_ request: CNIRequest) throws {
        if let ipamType = request.config.ipamType {
            try Delegation.run(type: ipamType, command: .delete, request: request)
        }
        let env = request.environment
        guard !env.netns.isEmpty else { return }
        let container: NetworkNamespace
        do {
            container = try NetworkNamespace(path: env.netns)
        } catch .notFound {
            return
        }
        let netlink = try RouteNetlink(in: container)
        guard let link = try netlink.link(named: env.ifName), link.kind == "macvlan" else { return }
        do {
            try netlink.deleteLink(index: link.index)
        } catch where error.isNotFound {}
    }

    /// CHECK: the interface of prevResult is in CNI_NETNS, is a macvlan in the configured mode
    /// with prevResult's MAC, on the master, with its addresses and routes; then IPAM CHECK.
    public func check(_ request: CNIRequest) throws {
        let config = try MacvlanConfig(request)
        guard let previous = request.config.prevResult else {
            throw CNIError.invalidConfig("required prevResult missing")
        }
        let env = request.environment
        guard let interfaceIndex = previous.interfaces.firstIndex(where: { $0.name == env.ifName && $0.sandbox != nil }) else {
            throw CNIError(code: .checkFailed, msg: "prevResult has no interface \"\(env.ifName)\" in a sandbox")
        }
        let recorded = previous.interfaces[interfaceIndex]
        guard recorded.sandbox == env.netns else {
            throw CNIError(code: .checkFailed, msg: "interface \"\(env.ifName)\" was recorded in \(recorded.sandbox ?? ""), not in \(env.netns)")
        }
        if let ipamType = request.config.ipamType {
            try Delegation.run(type: ipamType, command: .check, request: request)
        }
        let container = try NetworkNamespace(path: env.netns)
        let netlink = try RouteNetlink(in: container)
        let masterNetlink = config.linkInContainer ? netlink : try RouteNetlink()
        let master = try MasterResolution.resolve(config.master, masterNetlink,
                                                  namespaceDescription: config.linkInContainer ? "netns \(env.netns)" : "the host netns")
        guard let link = try netlink.link(named: env.ifName) else {
            throw CNIError(code: .checkFailed, msg: "interface \"\(env.ifName)\" not found in netns \(env.netns)")
        }
        guard link.kind == "macvlan" else {
            throw CNIError(code: .checkFailed, msg: "interface \"\(env.ifName)\" is a \(link.kind ?? "device without a kind"), not a macvlan")
        }
        guard link.macvlanMode == config.mode else {
            throw CNIError(code: .checkFailed,
                           msg: "interface \"\(env.ifName)\" is in macvlan mode \(link.macvlanMode?.name ?? "unknown"), not \(config.mode.name)")
        }
        if !config.linkInContainer, link.linkNamespaceID == nil || link.parentIndex != master.index {
            // The lower device is in another namespace; its index there must be the master's.
            if link.parentIndex != master.index {
                throw CNIError(code: .checkFailed, msg: "interface \"\(env.ifName)\" is not on master \"\(master.name)\"")
            }
        }
        if let mac = recorded.mac, !mac.isEmpty, MACAddress(mac) != link.address {
            throw CNIError(code: .checkFailed,
                           msg: "interface \"\(env.ifName)\" has MAC \(link.address?.description ?? "none"), prevResult says \(mac)")
        }
        try InterfaceConfiguration(netlink: netlink, namespace: container)
            .verify(previous, interfaceIndexInResult: interfaceIndex, link: link)
    }

    /// GC: macvlan keeps no state of its own; forwarded to IPAM.
    public func garbageCollect(_ request: CNIRequest) throws {
        if let ipamType = request.config.ipamType {
            try Delegation.run(type: ipamType, command: .garbageCollect, request: request)
        }
    }

    /// STATUS: code 50 when the master (or, without `master`, a default route) is missing in
    /// the host netns; then forwarded to IPAM.
    public func status(_ request: CNIRequest) throws {
        let config = try MacvlanConfig(request)
        if !config.linkInContainer {
            do {
                _ = try MasterResolution.resolve(config.master, try RouteNetlink(), namespaceDescription: "the host netns")
            } catch let error as CNIError {
                throw CNIError(code: .pluginNotAvailable, msg: error.msg, details: error.details)
            }
        }
        if let ipamType = request.config.ipamType {
            try Delegation.run(type: ipamType, command: .status, request: request)
        }
    }
}
