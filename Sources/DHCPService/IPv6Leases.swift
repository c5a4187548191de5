import Addressing
import CNI
import DHCP
import JSON
import Namespaces
import Netlink
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// DHCPv6 (RFC 8415) beside DHCPv4: one IA_NA per attachment, its address as /128 (DHCPv6
/// gives no prefix length: the on-link prefix and the default route come from the router's
/// advertisements, which the container's kernel takes itself).
extension LeaseManager {
    /// Readies the container's interface for DHCPv6 before it comes up: IPv6 on
    /// (`disable_ipv6=0`), optimistic duplicate address detection (`optimistic_dad=1`,
    /// `use_optimistic=1`: the link-local address is usable as a source at once, while DAD
    /// still runs and still catches a duplicate) and router advertisements taken
    /// (`accept_ra=1`). Then the link goes up. A link that is already up keeps its tentative
    /// link-local address: `acquire6` waits for DAD to finish on it.
    func prepareForIPv6(_ request: DaemonRequest, _ namespace: any LeaseNamespace) throws {
        try namespace.writeIPv6Settings(
            interface: request.ifName,
            [("disable_ipv6", "0"), ("optimistic_dad", "1"), ("use_optimistic", "1"), ("accept_ra", "1")])
        let netlink = try namespace.netlink()
        if let link = try netlink.link(named: request.ifName), !link.isUp {
            try netlink.setLink(index: link.index, up: true)
        }
    }

    /// Waits (at most 3 s) until the interface has a link-local address that can be a source:
    /// not tentative, or optimistic. RTM_GETADDR dumps, 20 ms apart.
    func waitForLinkLocal(_ netlink: any NetlinkSession, _ link: Link) throws {
        let deadline = host.monotonicSeconds + 3
        while true {
            let usable = try netlink.addresses(interfaceIndex: link.index, family: .v6).contains {
                $0.prefix.address.bytes.prefix(2) == [0xfe, 0x80] && $0.isUsableSource
            }
            if usable { return }
            if host.monotonicSeconds >= deadline {
                throw CNIError(
                    code: .tryAgainLater,
                    msg:
                        "\(link.name) has no usable IPv6 link-local address to ask DHCPv6 from (IPv6 disabled, or DAD failed)"
                )
            }
            host.pause(0.02)
        }
    }

    /// The DHCPv6 lease (`acquire`), with the default router the kernel has taken from an
    /// advertisement by then.
    func acquire6(_ request: DaemonRequest) throws -> (lease: DHCPv6Lease, router: IPAddress?) {
        let lease = try acquire(request, Lease6Record.self)
        return (lease, router6(request))
    }

    /// The default router the kernel took from an advertisement on the attachment's interface
    /// (the gateway of its IPv6 default route: RTM_GETLINK, then RTM_GETROUTE), if it has one
    /// yet; nil too when the namespace or the interface is gone.
    func router6(_ request: DaemonRequest) -> IPAddress? {
        guard let namespace = try? host.openNamespace(netnsPath(request)), let netlink = try? namespace.netlink(),
            let link = try? netlink.link(named: request.ifName),
            let routes = try? netlink.routes(family: .v6, table: nil, outputInterfaceIndex: link.index)
        else { return nil }
        return routes.first { $0.isDefault && $0.gateway != nil }?.gateway
    }
}
