import Addressing
import Firewall
import Namespaces
import Netlink

#if canImport(Glibc)
    import Glibc
#endif

/// What portmap does to the node: the firewall backends that carry host ports, and the
/// host's routing for localhost traffic. `SystemPortmapHost` is the real one; tests give a fake.
public protocol PortmapHost {
    /// The backend for `backend`; nil: upstream's choice (iptables unless only nftables is there).
    func portMapper(_ backend: PortmapBackend?) -> any PortMapper
    /// Every backend installed here besides `chosen` (DEL and GC also clean there: a node may
    /// have changed backends between an ADD and its DEL).
    func otherInstalledPortMappers(than chosen: any PortMapper) -> [any PortMapper]
    /// Sets `net.ipv4.conf.<interface>.route_localnet=1` on the host interface that routes to
    /// `container` (so that 127.0.0.1 may be DNAT'ed to it); nothing when no route leads there.
    func allowLocalhostRouting(toward container: IPAddress) throws
    /// Deletes the conntrack entries of `family` for UDP to `ports`, so that a flow tracked
    /// before the mapping existed (to the host itself) is not kept from the new DNAT.
    func deleteUDPConntrack(family: IPAddress.Family, ports: Set<UInt16>) throws
}

/// The real host: iptables/ip6tables or nf_tables, rtnetlink and /proc/sys of the plugin's namespace.
public struct SystemPortmapHost: PortmapHost {
    public init() {}

    public func portMapper(_ backend: PortmapBackend?) -> any PortMapper {
        switch backend {
        case .iptables: return IptablesPortMapper()
        case .nftables: return NftablesPortMapper()
        case nil:
            if FirewallTool.isInstalled("iptables") || !NftablesFirewall.isAvailable { return IptablesPortMapper() }
            return NftablesPortMapper()
        }
    }

    public func otherInstalledPortMappers(than chosen: any PortMapper) -> [any PortMapper] {
        var others: [any PortMapper] = []
        if chosen.name != "iptables" && FirewallTool.isInstalled("iptables") { others.append(IptablesPortMapper()) }
        if chosen.name != "nftables" && NftablesFirewall.isAvailable { others.append(NftablesPortMapper()) }
        return others
    }

    /// Reads the main table's IPv4 routes (RTM_GETROUTE dump) and takes the most specific one
    /// to `container`; its interface gets route_localnet.
    public func allowLocalhostRouting(toward container: IPAddress) throws {
        let netlink = try RouteNetlink()
        let routes = try netlink.routes(family: container.family, table: 254)
        let best =
            routes
            .filter { $0.destination.contains(container) && $0.outputInterfaceIndex != nil }
            .max { $0.destination.prefixLength < $1.destination.prefixLength }
        guard let index = best?.outputInterfaceIndex, let link = try netlink.link(index: index) else { return }
        try Sysctl.write(Sysctl.interfaceKey(family: "ipv4", interface: link.name, "route_localnet"), "1")
    }

    /// Through ctnetlink (`ConntrackTable`): a dump, and a delete per stale entry.
    public func deleteUDPConntrack(family: IPAddress.Family, ports: Set<UInt16>) throws {
        try ConntrackTable().deleteEntries(family: family, transport: UInt8(IPPROTO_UDP), destinationPorts: ports)
    }
}
