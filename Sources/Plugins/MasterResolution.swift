import Addressing
import CNI
import Netlink

/// Finds the lower device ("master") of a macvlan/ipvlan/vlan link.
enum MasterResolution {
    /// The interface of the first default route (IPv4, then IPv6) in the namespace of
    /// `netlink`, as the reference picks it. Code 7 when there is none.
    static func defaultRouteInterface(_ netlink: any NetlinkSession, namespaceDescription: String) throws -> Link {
        for family in [IPAddress.Family.v4, .v6] {
            let defaults = try netlink.routes(family: family, table: Route.mainTable).filter { $0.isDefault }
            for route in defaults {
                if let index = route.outputInterfaceIndex, let link = try netlink.link(index: index) { return link }
            }
        }
        throw CNIError.invalidConfig(
            "\"master\" is not set and there is no default route in \(namespaceDescription) to take it from")
    }

    /// The named master, or the default-route interface when `name` is nil. Code 7 naming the
    /// interface and the namespace when it does not exist.
    static func resolve(_ name: String?, _ netlink: any NetlinkSession, namespaceDescription: String) throws -> Link {
        guard let name else { return try defaultRouteInterface(netlink, namespaceDescription: namespaceDescription) }
        guard let link = try netlink.link(named: name) else {
            throw CNIError.invalidConfig("master \"\(name)\" not found in \(namespaceDescription)")
        }
        return link
    }
}
