import Addressing
import CMnl

#if canImport(Glibc)
    import Glibc
#endif

/// An address on an interface, as RTM_NEWADDR describes it.
public struct InterfaceAddress: Sendable, Equatable {
    public var interfaceIndex: Int32
    /// The address with its prefix length ("10.1.2.3/24").
    public var prefix: IPPrefix
    /// RT_SCOPE_* (0 universe, 253 link, 254 host).
    public var scope: UInt8
    /// IFA_F_* (IFA_F_TENTATIVE while IPv6 DAD runs, IFA_F_NODAD, ...).
    public var flags: UInt32

    /// IFA_F_NODAD: the address is usable at once, without IPv6 duplicate address detection.
    public static let noDuplicateAddressDetection = UInt32(IFA_F_NODAD)
    /// IFA_F_NOPREFIXROUTE: no on-link route to the address's subnet is added with it (sent in
    /// IFA_FLAGS, the flag does not fit ifa_flags).
    public static let noPrefixRoute = UInt32(IFA_F_NOPREFIXROUTE)
    /// IFA_F_TENTATIVE: IPv6 DAD runs; the address cannot be a source unless also optimistic.
    public static let tentative = UInt32(IFA_F_TENTATIVE)
    /// IFA_F_OPTIMISTIC: tentative, but usable as a source (optimistic DAD, RFC 4429).
    public static let optimistic = UInt32(IFA_F_OPTIMISTIC)
    /// IFA_F_DADFAILED: DAD found a duplicate; the address is unusable.
    public static let duplicateAddressDetectionFailed = UInt32(IFA_F_DADFAILED)

    /// An IPv6 address that can be a packet's source: not tentative (or optimistic), DAD not failed.
    public var isUsableSource: Bool {
        (flags & Self.tentative == 0 || flags & Self.optimistic != 0)
            && flags & Self.duplicateAddressDetectionFailed == 0
    }

    public init(interfaceIndex: Int32, prefix: IPPrefix, scope: UInt8 = 0, flags: UInt32 = 0) {
        self.interfaceIndex = interfaceIndex
        self.prefix = prefix
        self.scope = scope
        self.flags = flags
    }
}

extension IPAddress.Family {
    /// AF_INET or AF_INET6.
    var addressFamily: UInt8 { self == .v4 ? UInt8(AF_INET) : UInt8(AF_INET6) }

    init?(addressFamily: UInt8) {
        switch Int32(addressFamily) {
        case AF_INET: self = .v4
        case AF_INET6: self = .v6
        default: return nil
        }
    }
}

extension RouteNetlink {
    private static func addressMessage(type: Int, flags: Int32, _ address: InterfaceAddress) -> MessageBuilder {
        let request = MessageBuilder(type: type, flags: flags)
        request.putFamilyHeader(
            ifaddrmsg(
                ifa_family: address.prefix.family.addressFamily,
                ifa_prefixlen: UInt8(address.prefix.prefixLength),
                ifa_flags: UInt8(truncatingIfNeeded: address.flags),
                ifa_scope: address.scope, ifa_index: UInt32(bitPattern: address.interfaceIndex)))
        let bytes = address.prefix.address.bytes
        request.put(IFA_LOCAL, bytes: bytes)
        request.put(IFA_ADDRESS, bytes: bytes)
        if address.prefix.family == .v4, address.prefix.prefixLength < 31, type == Int(RTM_NEWADDR) {
            request.put(IFA_BROADCAST, bytes: address.prefix.lastAddress.bytes)
        }
        if address.flags > 0xFF { request.put(IFA_FLAGS, u32: address.flags) }
        return request
    }

    /// Builds RTM_NEWADDR (NLM_F_CREATE|NLM_F_EXCL) with IFA_LOCAL, IFA_ADDRESS and, for IPv4
    /// shorter than /31, IFA_BROADCAST (exposed for golden-bytes tests).
    public static func addAddressMessage(_ address: InterfaceAddress) -> MessageBuilder {
        addressMessage(type: Int(RTM_NEWADDR), flags: Int32(NLM_F_CREATE | NLM_F_EXCL), address)
    }

    /// RTM_NEWADDR. EEXIST when the address is already on the interface; ENODEV for a missing
    /// interface; EACCES/EPERM for IPv6 while the interface has IPv6 disabled.
    public func addAddress(_ address: InterfaceAddress) throws(NetlinkError) {
        try perform(
            Self.addAddressMessage(address),
            operation: "add address \(address.prefix) to link #\(address.interfaceIndex)")
    }

    /// RTM_DELADDR. EADDRNOTAVAIL when the address is not there.
    public func deleteAddress(_ address: InterfaceAddress) throws(NetlinkError) {
        try perform(
            Self.addressMessage(type: Int(RTM_DELADDR), flags: 0, address),
            operation: "delete address \(address.prefix) from link #\(address.interfaceIndex)")
    }

    /// RTM_GETADDR dump, filtered to one interface and/or family when given.
    public func addresses(interfaceIndex: Int32? = nil, family: IPAddress.Family? = nil) throws(NetlinkError)
        -> [InterfaceAddress]
    {
        let request = MessageBuilder(type: Int(RTM_GETADDR), flags: 0)
        request.putFamilyHeader(
            ifaddrmsg(
                ifa_family: family?.addressFamily ?? UInt8(AF_UNSPEC), ifa_prefixlen: 0,
                ifa_flags: 0, ifa_scope: 0, ifa_index: UInt32(bitPattern: interfaceIndex ?? 0)))
        let replies = try dump(request, operation: "list addresses")
        return replies.compactMap { message -> InterfaceAddress? in
            guard message.type == UInt16(RTM_NEWADDR), let reply = FamilyPayload<ifaddrmsg>(message.payload),
                let addressFamily = IPAddress.Family(addressFamily: reply.header.ifa_family)
            else { return nil }
            let index = Int32(bitPattern: reply.header.ifa_index)
            if let interfaceIndex, index != interfaceIndex { return nil }
            if let family, family != addressFamily { return nil }
            let attributes = reply.attributes
            guard let raw = attributes[IFA_LOCAL] ?? attributes[IFA_ADDRESS], let ip = IPAddress(bytes: raw),
                let prefix = IPPrefix(address: ip, prefixLength: Int(reply.header.ifa_prefixlen))
            else { return nil }
            let flags = attributes.u32(IFA_FLAGS) ?? UInt32(reply.header.ifa_flags)
            return InterfaceAddress(interfaceIndex: index, prefix: prefix, scope: reply.header.ifa_scope, flags: flags)
        }
    }
}
