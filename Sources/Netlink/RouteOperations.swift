import Addressing
import CMnl

#if canImport(Glibc)
    import Glibc
#endif

/// A route, as RTM_NEWROUTE describes it.
public struct Route: Sendable, Equatable {
    /// RT_SCOPE_LINK: a destination reached directly on the link (no gateway).
    public static let linkScope = UInt8(RT_SCOPE_LINK.rawValue)

    /// The destination; a prefix of length 0 is the default route.
    public var destination: IPPrefix
    public var gateway: IPAddress?
    /// RTA_OIF: the interface the route leaves by.
    public var outputInterfaceIndex: Int32?
    /// RTA_TABLE; RT_TABLE_MAIN (254) when not given.
    public var table: UInt32
    /// RT_SCOPE_*: 0 universe, 253 link, 254 host.
    public var scope: UInt8
    /// RTA_PRIORITY (the metric).
    public var priority: UInt32?
    /// RTAX_MTU and RTAX_ADVMSS inside RTA_METRICS.
    public var mtu: UInt32?
    public var advertisedMSS: UInt32?
    /// RTPROT_* (RTPROT_BOOT = 3 for routes we add, RTPROT_KERNEL = 2 for connected routes).
    public var routingProtocol: UInt8
    /// RTN_* (RTN_UNICAST = 1).
    public var type: UInt8

    public static let mainTable: UInt32 = 254

    public init(
        destination: IPPrefix, gateway: IPAddress? = nil, outputInterfaceIndex: Int32? = nil,
        table: UInt32 = Route.mainTable, scope: UInt8? = nil, priority: UInt32? = nil, mtu: UInt32? = nil,
        advertisedMSS: UInt32? = nil, routingProtocol: UInt8 = UInt8(RTPROT_BOOT), type: UInt8 = UInt8(RTN_UNICAST)
    ) {
        self.destination = destination
        self.gateway = gateway
        self.outputInterfaceIndex = outputInterfaceIndex
        self.table = table
        // Without a gateway a route is on-link (scope link), as `ip route add` decides.
        self.scope = scope ?? (gateway == nil ? UInt8(RT_SCOPE_LINK.rawValue) : UInt8(RT_SCOPE_UNIVERSE.rawValue))
        self.priority = priority
        self.mtu = mtu
        self.advertisedMSS = advertisedMSS
        self.routingProtocol = routingProtocol
        self.type = type
    }

    public var isDefault: Bool { destination.prefixLength == 0 }
}

extension RouteNetlink {
    private static func routeMessage(type: Int, flags: Int32, _ route: Route) -> MessageBuilder {
        let request = MessageBuilder(type: type, flags: flags)
        let table = route.table < 256 ? UInt8(route.table) : UInt8(RT_TABLE_UNSPEC.rawValue)
        request.putFamilyHeader(
            rtmsg(
                rtm_family: route.destination.family.addressFamily,
                rtm_dst_len: UInt8(route.destination.prefixLength), rtm_src_len: 0, rtm_tos: 0,
                rtm_table: table, rtm_protocol: route.routingProtocol, rtm_scope: route.scope,
                rtm_type: route.type, rtm_flags: 0))
        if route.destination.prefixLength > 0 {
            request.put(Int(RTA_DST.rawValue), bytes: route.destination.network.bytes)
        }
        if let gateway = route.gateway { request.put(Int(RTA_GATEWAY.rawValue), bytes: gateway.bytes) }
        if let index = route.outputInterfaceIndex { request.put(Int(RTA_OIF.rawValue), u32: UInt32(bitPattern: index)) }
        if let priority = route.priority { request.put(Int(RTA_PRIORITY.rawValue), u32: priority) }
        request.put(Int(RTA_TABLE.rawValue), u32: route.table)
        if route.mtu != nil || route.advertisedMSS != nil {
            request.nest(Int(RTA_METRICS.rawValue)) {
                if let mtu = route.mtu { request.put(Int(RTAX_MTU), u32: mtu) }
                if let mss = route.advertisedMSS { request.put(Int(RTAX_ADVMSS), u32: mss) }
            }
        }
        return request
    }

    /// Builds RTM_NEWROUTE with NLM_F_CREATE|NLM_F_EXCL (exposed for golden-bytes tests).
    public static func addRouteMessage(_ route: Route) -> MessageBuilder {
        routeMessage(type: Int(RTM_NEWROUTE), flags: Int32(NLM_F_CREATE | NLM_F_EXCL), route)
    }

    /// RTM_NEWROUTE. EEXIST when the same route exists; ENETUNREACH when the gateway is not
    /// reachable through a connected route; ENODEV for a missing interface.
    public func addRoute(_ route: Route) throws(NetlinkError) {
        try perform(Self.addRouteMessage(route), operation: "add route \(Self.describe(route))")
    }

    static func describe(_ route: Route) -> String {
        var text = route.isDefault ? "default" : route.destination.subnet.description
        if let gateway = route.gateway { text += " via \(gateway)" }
        if let index = route.outputInterfaceIndex { text += " dev #\(index)" }
        if route.table != Route.mainTable { text += " table \(route.table)" }
        return text
    }

    /// RTM_GETROUTE dump of one family, every table; filtered to `table` and/or an output
    /// interface when given. Cached and multipath routes are not listed.
    public func routes(family: IPAddress.Family, table: UInt32? = nil, outputInterfaceIndex: Int32? = nil)
        throws(NetlinkError) -> [Route]
    {
        let request = MessageBuilder(type: Int(RTM_GETROUTE), flags: 0)
        request.putFamilyHeader(
            rtmsg(
                rtm_family: family.addressFamily, rtm_dst_len: 0, rtm_src_len: 0, rtm_tos: 0,
                rtm_table: 0, rtm_protocol: 0, rtm_scope: 0, rtm_type: 0, rtm_flags: 0))
        return try dump(request, operation: "list routes").compactMap { message -> Route? in
            guard message.type == UInt16(RTM_NEWROUTE), let reply = FamilyPayload<rtmsg>(message.payload),
                IPAddress.Family(addressFamily: reply.header.rtm_family) == family
            else { return nil }
            let header = reply.header
            let attributes = reply.attributes
            let zero = family == .v4 ? IPAddress(v4: 0) : IPAddress(v6High: 0, low: 0)
            let destinationAddress = attributes[Int(RTA_DST.rawValue)].flatMap { IPAddress(bytes: $0) } ?? zero
            guard let destination = IPPrefix(address: destinationAddress, prefixLength: Int(header.rtm_dst_len)) else {
                return nil
            }
            let metrics = attributes.nested(Int(RTA_METRICS.rawValue))
            let route = Route(
                destination: destination,
                gateway: attributes[Int(RTA_GATEWAY.rawValue)].flatMap { IPAddress(bytes: $0) },
                outputInterfaceIndex: attributes.i32(Int(RTA_OIF.rawValue)),
                table: attributes.u32(Int(RTA_TABLE.rawValue)) ?? UInt32(header.rtm_table),
                scope: header.rtm_scope, priority: attributes.u32(Int(RTA_PRIORITY.rawValue)),
                mtu: metrics?.u32(Int(RTAX_MTU)), advertisedMSS: metrics?.u32(Int(RTAX_ADVMSS)),
                routingProtocol: header.rtm_protocol, type: header.rtm_type)
            if let table, route.table != table { return nil }
            if let outputInterfaceIndex, route.outputInterfaceIndex != outputInterfaceIndex { return nil }
            return route
        }
    }
}
