import Addressing
import CNI
import Namespaces
import Netlink

#if canImport(Glibc)
    import Glibc
#endif

/// Puts an IPAM result onto an interface inside the container: what the reference's
/// `ipam.ConfigureIface` does, on our netlink layer.
struct InterfaceConfiguration {
    let netlink: any NetlinkSession
    let namespace: any ContainerNamespace
    /// Told each step done ("address", "up", "route"): see `PluginHost.checkpoint(_:)`.
    let host: any StepHost
    /// IPv6 addresses go through duplicate address detection (tentative at first) only when
    /// asked: otherwise they are added with IFA_F_NODAD and usable at once.
    var duplicateAddressDetection = false
    /// IFA_* flags added to every address (ptp: IFA_F_NOPREFIXROUTE, no on-link subnet route).
    var extraAddressFlags: UInt32 = 0
    /// Routes added after the link is up and before the result's (ptp's route to its gateway).
    var linkRoutes: (Link) -> [Route] = { _ in [] }

    /// Sets `arp_notify` and `ndisc_notify` so neighbours learn a new address at once (gratuitous
    /// ARP / unsolicited NA when the link comes up). The IPv6 key is absent when IPv6 is
    /// disabled in the kernel, so a missing key is not an error.
    func enableNeighbourNotifications(interfaceName: String) throws {
        try namespace.writeSysctls([
            SysctlWrite(Sysctl.interfaceKey(family: "ipv4", interface: interfaceName, "arp_notify"), "1"),
            SysctlWrite(
                Sysctl.interfaceKey(family: "ipv6", interface: interfaceName, "ndisc_notify"), "1", mayBeMissing: true),
        ])
    }

    /// Adds the result's addresses for `interfaceIndexInResult`, brings the link up and adds
    /// the routes (a route without a gateway uses the first gateway of its family, as the
    /// reference does; without either it is on-link). IPv6 is enabled on the link first.
    func apply(_ result: CNIResult, interfaceIndexInResult: Int, link: Link) throws {
        let ips = result.ips.filter { $0.interface == nil || $0.interface == interfaceIndexInResult }
        if ips.contains(where: { $0.address.family == .v6 }) {
            try namespace.writeSysctls(
                ["lo", link.name].map {
                    SysctlWrite(
                        Sysctl.interfaceKey(family: "ipv6", interface: $0, "disable_ipv6"), "0", mayBeMissing: true)
                })
        }
        for ip in ips {
            try netlink.addAddress(
                InterfaceAddress(
                    interfaceIndex: link.index, prefix: ip.address,
                    flags: (ip.address.family == .v6 && !duplicateAddressDetection
                        ? InterfaceAddress.noDuplicateAddressDetection : 0) | extraAddressFlags))
        }
        try host.checkpoint("address")
        try netlink.setLink(index: link.index, up: true)
        try host.checkpoint("up")
        for route in linkRoutes(link) { try netlink.addRoute(route) }
        for route in result.routes {
            let gateway = route.gateway ?? ips.first(where: { $0.address.family == route.destination.family })?.gateway
            try netlink.addRoute(
                Route(
                    destination: route.destination.subnet, gateway: gateway, outputInterfaceIndex: link.index,
                    table: route.table ?? Route.mainTable, scope: route.scope,
                    priority: route.priority, mtu: route.mtu, advertisedMSS: route.advertisedMSS))
        }
        try host.checkpoint("route")
    }

    /// CHECK: every address and route of `result` for this interface is present.
    func verify(_ result: CNIResult, interfaceIndexInResult: Int, link: Link) throws {
        let present = Set(try netlink.addresses(interfaceIndex: link.index).map(\.prefix))
        for ip in result.ips where ip.interface == interfaceIndexInResult && !present.contains(ip.address) {
            throw CNIError(code: .checkFailed, msg: "address \(ip.address) is missing on \(link.name)")
        }
        for route in result.routes {
            let existing = try netlink.routes(family: route.destination.family)
            let wanted = route.destination.subnet
            let found = existing.contains { candidate in
                candidate.destination == wanted
                    && (route.gateway == nil || candidate.gateway == route.gateway)
                    && (route.table == nil || candidate.table == route.table)
            }
            if !found {
                throw CNIError(code: .checkFailed, msg: "route to \(wanted) is missing in the container")
            }
        }
    }
}
