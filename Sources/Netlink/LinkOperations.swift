import Addressing
import CMnl

#if canImport(Glibc)
    import Glibc
#endif

extension RouteNetlink {
    /// The ifinfomsg of every link request: `family` AF_UNSPEC, or AF_BRIDGE for a bridge
    /// port's attributes and VLANs.
    static func linkHeader(index: Int32 = 0, family: Int32 = AF_UNSPEC, flags: UInt32 = 0, change: UInt32 = 0)
        -> ifinfomsg
    {
        ifinfomsg(
            ifi_family: UInt8(family), __ifi_pad: 0, ifi_type: 0, ifi_index: index,
            ifi_flags: flags, ifi_change: change)
    }

    /// RTM_GETLINK by name (IFLA_IFNAME), with NLM_F_ACK. Returns nil when the kernel answers
    /// ENODEV (no such link in this namespace); other errors are thrown.
    public func link(named name: String) throws(NetlinkError) -> Link? {
        let request = MessageBuilder(type: Int(RTM_GETLINK), flags: 0)
        request.putFamilyHeader(Self.linkHeader())
        request.put(IFLA_IFNAME, string: name)
        request.put(IFLA_EXT_MASK, u32: UInt32(RTEXT_FILTER_SKIP_STATS))
        return try getLink(request, operation: "get link \"\(name)\"")
    }

    /// RTM_GETLINK by index. nil for ENODEV.
    public func link(index: Int32) throws(NetlinkError) -> Link? {
        let request = MessageBuilder(type: Int(RTM_GETLINK), flags: 0)
        request.putFamilyHeader(Self.linkHeader(index: index))
        request.put(IFLA_EXT_MASK, u32: UInt32(RTEXT_FILTER_SKIP_STATS))
        return try getLink(request, operation: "get link #\(index)")
    }

    private func getLink(_ request: MessageBuilder, operation: String) throws(NetlinkError) -> Link? {
        do {
            let replies = try perform(request, operation: operation)
            return replies.lazy.filter { $0.type == UInt16(RTM_NEWLINK) }.compactMap(Link.init(message:)).first
        } catch  where error.errno == ENODEV {
            return nil
        }
    }

    /// Builds the RTM_NEWLINK request for `linkRequest` (exposed for golden-bytes tests).
    public static func createLinkMessage(_ linkRequest: LinkRequest) -> MessageBuilder {
        let request = MessageBuilder(type: Int(RTM_NEWLINK), flags: Int32(NLM_F_CREATE | NLM_F_EXCL))
        request.putFamilyHeader(linkHeader())
        request.put(IFLA_IFNAME, string: linkRequest.name)
        if let parent = linkRequest.parentIndex { request.put(IFLA_LINK, u32: UInt32(bitPattern: parent)) }
        if let mtu = linkRequest.mtu { request.put(IFLA_MTU, u32: mtu) }
        if let address = linkRequest.address { request.put(IFLA_ADDRESS, bytes: address.bytes) }
        if let queue = linkRequest.transmitQueueLength { request.put(IFLA_TXQLEN, u32: queue) }
        if let fd = linkRequest.namespaceFD { request.put(IFLA_NET_NS_FD, u32: UInt32(bitPattern: fd.rawValue)) }
        request.nest(IFLA_LINKINFO) {
            request.put(IFLA_INFO_KIND, string: linkRequest.kind.name)
            switch linkRequest.kind {
            case .macvlan(let mode, let queueLength):
                request.nest(IFLA_INFO_DATA) {
                    request.put(IFLA_MACVLAN_MODE, u32: mode.rawValue)
                    if let queueLength { request.put(IFLA_MACVLAN_BC_QUEUE_LEN, u32: queueLength) }
                }
            case .ipvlan(let mode, let flags):
                request.nest(IFLA_INFO_DATA) {
                    request.put(IFLA_IPVLAN_MODE, u16: mode.rawValue)
                    request.put(IFLA_IPVLAN_FLAGS, u16: flags.rawValue)
                }
            case .vlan(let id):
                request.nest(IFLA_INFO_DATA) {
                    request.put(IFLA_VLAN_ID, u16: id)
                }
            case .veth(let peerName, let peerNamespaceFD, let peerAddress):
                request.nest(IFLA_INFO_DATA) {
                    request.nest(VETH_INFO_PEER, header: linkHeader()) {
                        request.put(IFLA_IFNAME, string: peerName)
                        if let mtu = linkRequest.mtu { request.put(IFLA_MTU, u32: mtu) }
                        if let peerAddress { request.put(IFLA_ADDRESS, bytes: peerAddress.bytes) }
                        if let fd = peerNamespaceFD {
                            request.put(IFLA_NET_NS_FD, u32: UInt32(bitPattern: fd.rawValue))
                        }
                    }
                }
            case .bridge, .ifb:
                break
            }
        }
        return request
    }

    /// RTM_NEWLINK with NLM_F_CREATE|NLM_F_EXCL. The kernel answers EEXIST when the name is
    /// taken (in the target namespace), ENODEV when the parent index does not exist,
    /// EOPNOTSUPP ("Unknown device type") when the kernel lacks the kind, EBUSY when the parent
    /// cannot take this kind (e.g. macvlan and ipvlan on one lower device), EINVAL for an MTU
    /// above the parent's.
    public func createLink(_ linkRequest: LinkRequest) throws(NetlinkError) {
        try perform(
            Self.createLinkMessage(linkRequest),
            operation: "create link \"\(linkRequest.name)\" (\(linkRequest.kind.name))")
    }

    /// RTM_DELLINK by index. ENODEV when it is already gone. Deleting one end of a veth pair
    /// deletes both.
    public func deleteLink(index: Int32) throws(NetlinkError) {
        let request = MessageBuilder(type: Int(RTM_DELLINK), flags: 0)
        request.putFamilyHeader(Self.linkHeader(index: index))
        try perform(request, operation: "delete link #\(index)")
    }

    /// RTM_SETLINK with IFF_UP in ifi_change, set or cleared in ifi_flags.
    public func setLink(index: Int32, up: Bool) throws(NetlinkError) {
        let request = MessageBuilder(type: Int(RTM_SETLINK), flags: 0)
        request.putFamilyHeader(Self.linkHeader(index: index, flags: up ? UInt32(IFF_UP) : 0, change: UInt32(IFF_UP)))
        try perform(request, operation: "set link #\(index) \(up ? "up" : "down")")
    }

    /// RTM_SETLINK with IFF_PROMISC in ifi_change.
    public func setLink(index: Int32, promiscuous: Bool) throws(NetlinkError) {
        let request = MessageBuilder(type: Int(RTM_SETLINK), flags: 0)
        request.putFamilyHeader(
            Self.linkHeader(
                index: index, flags: promiscuous ? UInt32(IFF_PROMISC) : 0,
                change: UInt32(IFF_PROMISC)))
        try perform(request, operation: "set link #\(index) promisc \(promiscuous ? "on" : "off")")
    }

    /// RTM_SETLINK with IFLA_IFNAME. EEXIST when the name is taken; EBUSY when the link is up
    /// on kernels that refuse renaming a running device.
    public func renameLink(index: Int32, to name: String) throws(NetlinkError) {
        try setAttribute(index: index, operation: "rename link #\(index) to \"\(name)\"") {
            $0.put(IFLA_IFNAME, string: name)
        }
    }

    /// RTM_SETLINK with IFLA_MTU. EINVAL when outside the device's (or its parent's) range.
    public func setLink(index: Int32, mtu: UInt32) throws(NetlinkError) {
        try setAttribute(index: index, operation: "set MTU \(mtu) on link #\(index)") { $0.put(IFLA_MTU, u32: mtu) }
    }

    /// RTM_SETLINK with IFLA_ADDRESS. EADDRNOTAVAIL for a multicast or zero address.
    public func setLink(index: Int32, address: MACAddress) throws(NetlinkError) {
        try setAttribute(index: index, operation: "set MAC \(address) on link #\(index)") {
            $0.put(IFLA_ADDRESS, bytes: address.bytes)
        }
    }

    /// RTM_SETLINK with IFF_ALLMULTI in ifi_change.
    public func setLink(index: Int32, allMulticast: Bool) throws(NetlinkError) {
        let request = MessageBuilder(type: Int(RTM_SETLINK), flags: 0)
        request.putFamilyHeader(
            Self.linkHeader(
                index: index, flags: allMulticast ? UInt32(IFF_ALLMULTI) : 0, change: UInt32(IFF_ALLMULTI)))
        try perform(request, operation: "set link #\(index) allmulticast \(allMulticast ? "on" : "off")")
    }

    /// RTM_SETLINK with IFLA_TXQLEN.
    public func setLink(index: Int32, transmitQueueLength: UInt32) throws(NetlinkError) {
        try setAttribute(index: index, operation: "set txqueuelen \(transmitQueueLength) on link #\(index)") {
            $0.put(IFLA_TXQLEN, u32: transmitQueueLength)
        }
    }

    /// RTM_SETLINK with IFLA_MASTER (0 releases the link from its master).
    public func setLink(index: Int32, masterIndex: Int32) throws(NetlinkError) {
        try setAttribute(index: index, operation: "set master #\(masterIndex) on link #\(index)") {
            $0.put(IFLA_MASTER, u32: UInt32(bitPattern: masterIndex))
        }
    }

    private func setAttribute(index: Int32, operation: String, _ fill: (MessageBuilder) -> Void) throws(NetlinkError) {
        let request = MessageBuilder(type: Int(RTM_SETLINK), flags: 0)
        request.putFamilyHeader(Self.linkHeader(index: index))
        fill(request)
        try perform(request, operation: operation)
    }
}
