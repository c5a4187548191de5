import Addressing
import CMnl

#if canImport(Glibc)
    import Glibc
#endif

/// Port settings of a link enslaved to a Linux bridge (IFLA_PROTINFO, family AF_BRIDGE).
public struct BridgePortSettings: Sendable, Equatable {
    /// IFLA_BRPORT_MODE: hairpin (reflective relay), frames may go back out of the port they came in by.
    public var hairpin: Bool?
    /// IFLA_BRPORT_ISOLATED: the port talks only to ports that are not isolated.
    public var isolated: Bool?

    public init(hairpin: Bool? = nil, isolated: Bool? = nil) {
        self.hairpin = hairpin
        self.isolated = isolated
    }
}

/// A VLAN (or range) on a bridge port: `struct bridge_vlan_info` in IFLA_AF_SPEC.
public struct BridgeVLAN: Sendable, Equatable {
    public var first: UInt16
    public var last: UInt16
    /// The port's PVID: untagged ingress frames join this VLAN.
    public var pvid: Bool
    /// Egress frames of this VLAN leave untagged.
    public var untagged: Bool

    public init(_ id: UInt16, pvid: Bool = false, untagged: Bool = false) {
        self.init(first: id, last: id, pvid: pvid, untagged: untagged)
    }

    public init(first: UInt16, last: UInt16, pvid: Bool = false, untagged: Bool = false) {
        self.first = first
        self.last = last
        self.pvid = pvid
        self.untagged = untagged
    }
}

extension RouteNetlink {
    /// Builds RTM_NEWLINK for a bridge: kind "bridge", IFLA_BR_VLAN_FILTERING when asked
    /// (exposed for golden-bytes tests).
    public static func createBridgeMessage(name: String, mtu: UInt32?, address: MACAddress? = nil, vlanFiltering: Bool)
        -> MessageBuilder
    {
        let request = MessageBuilder(type: Int(RTM_NEWLINK), flags: Int32(NLM_F_CREATE | NLM_F_EXCL))
        request.putFamilyHeader(Self.linkHeader())
        request.put(IFLA_IFNAME, string: name)
        if let mtu { request.put(IFLA_MTU, u32: mtu) }
        if let address { request.put(IFLA_ADDRESS, bytes: address.bytes) }
        request.nest(IFLA_LINKINFO) {
            request.put(IFLA_INFO_KIND, string: "bridge")
            if vlanFiltering {
                request.nest(IFLA_INFO_DATA) { request.put(IFLA_BR_VLAN_FILTERING, u8: 1) }
            }
        }
        return request
    }

    /// RTM_NEWLINK (NLM_F_CREATE|NLM_F_EXCL) of a bridge. EEXIST when the name is taken (another
    /// ADD may have created it a moment ago: look it up again); EOPNOTSUPP with VLAN filtering
    /// on a kernel built without CONFIG_BRIDGE_VLAN_FILTERING. A bridge given an address keeps
    /// it; without one it takes the lowest MAC of its ports, which changes as ports come and go.
    public func createBridge(name: String, mtu: UInt32? = nil, address: MACAddress? = nil, vlanFiltering: Bool = false)
        throws(NetlinkError)
    {
        try perform(
            Self.createBridgeMessage(name: name, mtu: mtu, address: address, vlanFiltering: vlanFiltering),
            operation: "create bridge \"\(name)\"")
    }

    /// RTM_NEWLINK without NLM_F_CREATE on an existing bridge: IFLA_BR_VLAN_FILTERING.
    /// EOPNOTSUPP when the kernel lacks bridge VLAN filtering.
    public func setBridge(index: Int32, vlanFiltering: Bool) throws(NetlinkError) {
        let request = MessageBuilder(type: Int(RTM_NEWLINK), flags: 0)
        request.putFamilyHeader(Self.linkHeader(index: index))
        request.nest(IFLA_LINKINFO) {
            request.put(IFLA_INFO_KIND, string: "bridge")
            request.nest(IFLA_INFO_DATA) { request.put(IFLA_BR_VLAN_FILTERING, u8: vlanFiltering ? 1 : 0) }
        }
        try perform(request, operation: "set vlan_filtering \(vlanFiltering ? 1 : 0) on bridge #\(index)")
    }

    /// RTM_SETLINK, family AF_BRIDGE, with IFLA_PROTINFO {IFLA_BRPORT_MODE, IFLA_BRPORT_ISOLATED}
    /// on a bridge port. EOPNOTSUPP (or EINVAL) when the link is not a bridge port.
    public func setBridgePort(index: Int32, _ settings: BridgePortSettings) throws(NetlinkError) {
        let request = MessageBuilder(type: Int(RTM_SETLINK), flags: 0)
        request.putFamilyHeader(Self.linkHeader(index: index, family: AF_BRIDGE))
        request.nest(IFLA_PROTINFO) {
            if let hairpin = settings.hairpin { request.put(Int(IFLA_BRPORT_MODE), u8: hairpin ? 1 : 0) }
            if let isolated = settings.isolated { request.put(Int(IFLA_BRPORT_ISOLATED), u8: isolated ? 1 : 0) }
        }
        try perform(request, operation: "set bridge port options on link #\(index)")
    }

    private static func vlanMessage(type: Int, index: Int32, _ vlans: [BridgeVLAN], bridgeSelf: Bool = false)
        -> MessageBuilder
    {
        let request = MessageBuilder(type: type, flags: 0)
        request.putFamilyHeader(Self.linkHeader(index: index, family: AF_BRIDGE))
        request.nest(IFLA_AF_SPEC) {
            // IFLA_BRIDGE_FLAGS = BRIDGE_FLAGS_SELF: the VLANs are the bridge device's own.
            if bridgeSelf { request.put(Int(IFLA_BRIDGE_FLAGS), u16: UInt16(BRIDGE_FLAGS_SELF)) }
            for vlan in vlans {
                var flags: UInt16 = 0
                if vlan.pvid { flags |= UInt16(BRIDGE_VLAN_INFO_PVID) }
                if vlan.untagged { flags |= UInt16(BRIDGE_VLAN_INFO_UNTAGGED) }
                if vlan.first == vlan.last {
                    request.put(Int(IFLA_BRIDGE_VLAN_INFO), bytes: Self.vlanInfo(flags: flags, id: vlan.first))
                } else {
                    request.put(
                        Int(IFLA_BRIDGE_VLAN_INFO),
                        bytes: Self.vlanInfo(flags: flags | UInt16(BRIDGE_VLAN_INFO_RANGE_BEGIN), id: vlan.first))
                    request.put(
                        Int(IFLA_BRIDGE_VLAN_INFO),
                        bytes: Self.vlanInfo(flags: flags | UInt16(BRIDGE_VLAN_INFO_RANGE_END), id: vlan.last))
                }
            }
        }
        return request
    }

    /// struct bridge_vlan_info { __u16 flags; __u16 vid; } in host byte order.
    static func vlanInfo(flags: UInt16, id: UInt16) -> [UInt8] {
        withUnsafeBytes(of: flags) { Array($0) } + withUnsafeBytes(of: id) { Array($0) }
    }

    /// Builds the RTM_SETLINK that adds VLANs to a port (exposed for golden-bytes tests).
    public static func addBridgeVLANsMessage(index: Int32, _ vlans: [BridgeVLAN], bridgeSelf: Bool = false)
        -> MessageBuilder
    {
        vlanMessage(type: Int(RTM_SETLINK), index: index, vlans, bridgeSelf: bridgeSelf)
    }

    /// RTM_SETLINK, AF_BRIDGE, IFLA_AF_SPEC {IFLA_BRIDGE_VLAN_INFO...}: adds VLANs to a bridge
    /// port, or with `bridgeSelf` (IFLA_BRIDGE_FLAGS = BRIDGE_FLAGS_SELF, `index` the bridge) to
    /// the bridge device itself. EOPNOTSUPP or EINVAL when the bridge does not filter VLANs.
    public func addBridgeVLANs(index: Int32, _ vlans: [BridgeVLAN], bridgeSelf: Bool = false) throws(NetlinkError) {
        try perform(
            Self.addBridgeVLANsMessage(index: index, vlans, bridgeSelf: bridgeSelf),
            operation: "add VLANs to \(bridgeSelf ? "bridge" : "bridge port") #\(index)")
    }

    /// RTM_DELLINK, AF_BRIDGE, IFLA_AF_SPEC: removes VLANs from a bridge port, or with
    /// `bridgeSelf` from the bridge device itself (the link stays).
    public func deleteBridgeVLANs(index: Int32, _ vlans: [BridgeVLAN], bridgeSelf: Bool = false) throws(NetlinkError) {
        try perform(
            Self.vlanMessage(type: Int(RTM_DELLINK), index: index, vlans, bridgeSelf: bridgeSelf),
            operation: "remove VLANs from \(bridgeSelf ? "bridge" : "bridge port") #\(index)")
    }

    /// RTM_GETLINK dump, family AF_BRIDGE, IFLA_EXT_MASK = RTEXT_FILTER_BRVLAN: the VLANs of
    /// every port of every bridge (and of the bridges themselves), by link index. Each VLAN is
    /// listed on its own (uncompressed); range flags are expanded anyway.
    public func bridgeVLANs() throws(NetlinkError) -> [(index: Int32, masterIndex: Int32?, vlans: [UInt16])] {
        let request = MessageBuilder(type: Int(RTM_GETLINK), flags: 0)
        request.putFamilyHeader(Self.linkHeader(family: AF_BRIDGE))
        request.put(IFLA_EXT_MASK, u32: UInt32(RTEXT_FILTER_BRVLAN))
        return try dump(request, operation: "list bridge VLANs").compactMap { message in
            guard message.type == UInt16(RTM_NEWLINK), let reply = FamilyPayload<ifinfomsg>(message.payload) else {
                return nil
            }
            let attributes = reply.attributes
            var vlans: [UInt16] = []
            var rangeStart: UInt16?
            for (type, value) in attributes.nested(IFLA_AF_SPEC)?.all ?? []
            where Int(type) == Int(IFLA_BRIDGE_VLAN_INFO) {
                guard let info = value.load(bridge_vlan_info.self, at: 0) else { continue }
                let flags = info.flags
                let vid = info.vid
                if flags & UInt16(BRIDGE_VLAN_INFO_RANGE_BEGIN) != 0 {
                    rangeStart = vid
                } else if flags & UInt16(BRIDGE_VLAN_INFO_RANGE_END) != 0, let first = rangeStart, first <= vid {
                    vlans += Array(first...vid)
                    rangeStart = nil
                } else {
                    vlans.append(vid)
                }
            }
            return (reply.header.ifi_index, attributes.i32(IFLA_MASTER), vlans)
        }
    }
}
