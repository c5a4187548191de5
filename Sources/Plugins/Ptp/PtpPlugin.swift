import Addressing
import CNI
import Firewall
import Namespaces
import Netlink
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// `ptp`: a veth pair per container with no bridge; the host end holds the IPAM gateway as a
/// /32 (/128) and a host route to the container's address, the container routes its subnet
/// and default through that gateway (upstream v1.9's ptp.go); `ipMasq` with either backend in
/// the bridge's formats. GC and STATUS, which upstream lacks (#1014).
public struct PtpPlugin: CNIPlugin {
    let host: any PluginHost
    public init(host: any PluginHost = SystemHost()) { self.host = host }
    public var about: String { "swift-cni ptp: a veth pair per container with host routes, no bridge" }

    struct Config {
        var ipMasq: Bool
        var ipMasqBackend: MasqueradeBackend?
        var mtu: UInt32
        var dns: DNS?

        init(_ request: CNIRequest) throws(CNIError) {
            let reader = request.config.reader
            ipMasq = try reader.bool("ipMasq") ?? false
            ipMasqBackend = try reader.choice(
                "ipMasqBackend", what: "ipMasqBackend", default: nil,
                [("iptables", .iptables), ("nftables", .nftables)])
            mtu = try reader.mtu(maximum: 65535)
            dns = request.config.dns
            guard request.config.ipamType != nil else {
                throw CNIError.invalidConfig(
                    "ptp needs an \"ipam\" section: the host routes to the container's addresses")
            }
        }
    }

    /// The result: the host end (0) and the container end (1), which holds the addresses.
    static let containerInterfaceIndex = 1

    public func add(_ request: CNIRequest) throws -> CNIResult {
        try host.holdingAttachmentLock(request, forDelete: false) { try addLocked(request) }
    }

    private func addLocked(_ request: CNIRequest) throws -> CNIResult {
        let config = try Config(request)
        let env = request.environment
        let sessions = try ContainerInterface.Sessions(env, host: host)
        let (container, containerNetlink, hostNetlink) =
            (sessions.container, sessions.containerNetlink, sessions.hostNetlink)
        return try Rollback.guarding { rollback in
            var result =
                try host.addIPAM(request, interfaceIndex: Self.containerInterfaceIndex, rollback: &rollback)
                ?? CNIResult(cniVersion: request.config.cniVersion)
            for ip in result.ips where ip.gateway == nil {
                throw CNIError(
                    code: .invalidConfig,
                    msg: "ptp needs a gateway for \(ip.address) from IPAM: it becomes the host end's address")
            }
            let families = Set(result.ips.map(\.address.family))
            if families.contains(.v4) { try host.writeHostSysctl("net/ipv4/ip_forward", "1") }
            if families.contains(.v6) { try host.writeHostSysctl("net/ipv6/conf/all/forwarding", "1") }

            let (hostVeth, containerLink) = try ContainerInterface.createVethPair(
                env, container: container, mtu: config.mtu, peerAddress: nil, hostNetlink: hostNetlink,
                containerNetlink: containerNetlink, host: host, rollback: &rollback)

            // Container: addresses without their on-link subnet route; the gateway reached on
            // the link, the subnet and the result's routes through it.
            var configuration = InterfaceConfiguration(netlink: containerNetlink, namespace: container, host: host)
            configuration.extraAddressFlags = InterfaceAddress.noPrefixRoute
            let ips = result.ips
            configuration.linkRoutes = { link in
                ips.flatMap { ip -> [Route] in
                    guard let gateway = ip.gateway,
                        let gatewayHost = IPPrefix(address: gateway, prefixLength: gateway.family.bitWidth)
                    else { return [] }
                    return [
                        Route(destination: gatewayHost, outputInterfaceIndex: link.index, scope: Route.linkScope),
                        Route(destination: ip.address.subnet, gateway: gateway, outputInterfaceIndex: link.index),
                    ]
                }
            }
            try configuration.apply(result, interfaceIndexInResult: Self.containerInterfaceIndex, link: containerLink)

            // Host: the gateway as the host end's own address, a route to each container address.
            for ip in result.ips {
                guard let gateway = ip.gateway,
                    let own = IPPrefix(address: gateway, prefixLength: gateway.family.bitWidth)
                else { continue }
                if gateway.family == .v6 {
                    try host.writeHostSysctl(
                        Sysctl.interfaceKey(family: "ipv6", interface: hostVeth.name, "disable_ipv6"), "0")
                }
                try hostNetlink.addAddress(
                    InterfaceAddress(
                        interfaceIndex: hostVeth.index, prefix: own,
                        flags: gateway.family == .v6 ? InterfaceAddress.noDuplicateAddressDetection : 0))
            }
            try hostNetlink.setLink(index: hostVeth.index, up: true)
            for ip in result.ips {
                guard
                    let containerHost = IPPrefix(address: ip.address.address, prefixLength: ip.address.family.bitWidth)
                else { continue }
                do {
                    try hostNetlink.addRoute(
                        Route(
                            destination: containerHost, outputInterfaceIndex: hostVeth.index,
                            scope: Route.linkScope))
                } catch let error as NetlinkError {
                    // EEXIST: the route is there (a second interface to the same address).
                    guard error.errno == EEXIST else { throw error }
                }
            }
            try host.checkpoint("route")

            if config.ipMasq {
                try host.addMasquerade(
                    request, addresses: result.ips.map(\.address), backend: config.ipMasqBackend, rollback: &rollback)
            }
            if let dns = config.dns, !dns.isEmpty { result.dns = dns }
            let finalContainer = try containerNetlink.link(index: containerLink.index) ?? containerLink
            result.interfaces = [
                CNIResult.Interface(name: hostVeth.name, mac: hostVeth.address?.description),
                CNIResult.Interface(
                    name: env.ifName, mac: finalContainer.address?.description, mtu: Int(finalContainer.mtu),
                    sandbox: env.netns),
            ]
            try result.ensurePrintable(for: request)
            return result
        }
    }

    /// DEL: IPAM, the masquerade (every installed backend, no address needed: also with the
    /// netns gone), the container's veth end (its peer goes with it).
    public func delete(_ request: CNIRequest) throws {
        try host.holdingAttachmentLock(request, forDelete: true) {
            let config = try Config(request)
            let env = request.environment
            _ = try host.runIPAM(.delete, request)
            if config.ipMasq { try host.removeMasquerade(request) }
            try ContainerInterface.delete(env, kind: "veth", host: host)
        }
    }

    /// CHECK: the container's veth with prevResult's addresses and routes; IPAM CHECK.
    public func check(_ request: CNIRequest) throws {
        _ = try Config(request)
        guard let previous = request.config.prevResult else {
            throw CNIError.invalidConfig("required prevResult missing")
        }
        let env = request.environment
        _ = try host.runIPAM(.check, request)
        guard
            let interfaceIndex = previous.interfaces.firstIndex(where: {
                ExactName.equal($0.name, env.ifName) && $0.sandbox == env.netns
            })
        else {
            throw CNIError(code: .checkFailed, msg: "prevResult has no interface \"\(env.ifName)\" in \(env.netns)")
        }
        let container = try host.openNamespace(env.netns)
        let netlink = try container.netlink()
        guard let link = try netlink.link(named: env.ifName), link.kind == "veth" else {
            throw CNIError(code: .checkFailed, msg: "veth \"\(env.ifName)\" not found in netns \(env.netns)")
        }
        try InterfaceConfiguration(netlink: netlink, namespace: container, host: host).verify(
            previous, interfaceIndexInResult: interfaceIndex, link: link)
    }

    /// GC: the masquerade objects of this network's attachments that are not valid, then IPAM.
    public func garbageCollect(_ request: CNIRequest) throws {
        _ = try Config(request)
        try host.collectMasqueradeGarbage(request)
        _ = try host.runIPAM(.garbageCollect, request)
    }

    /// STATUS: code 50 when the masquerade's backend cannot be used; then IPAM's.
    public func status(_ request: CNIRequest) throws {
        let config = try Config(request)
        if config.ipMasq {
            let firewall = host.masqueradeFirewall(config.ipMasqBackend)
            try host.requireUsable([(firewall.name, firewall.unusableReason())])
        }
        _ = try host.runIPAM(.status, request)
    }
}
