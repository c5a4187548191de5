import CMnl
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// Builds one netlink request with libmnl: the nlmsghdr, a family header (ifinfomsg,
/// ifaddrmsg, rtmsg) and attributes, nested where needed. The sequence number is filled in
/// by `RouteNetlink` when the request is sent.
public final class MessageBuilder {
    /// Requests here are small (a link with its info data is a few hundred bytes).
    static let capacity = 16384
    private let buffer: UnsafeMutableRawPointer
    let header: UnsafeMutablePointer<nlmsghdr>

    /// Starts a message of `type` (RTM_NEWLINK, ...) with `flags` (NLM_F_REQUEST is always added).
    public init(type: Int, flags: Int32) {
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.capacity, alignment: 8)
        // Zeroed whole: libmnl before 1.0.5 (Debian 12's 1.0.4) leaves an attribute's padding
        // as it found it, and the golden tests (NetlinkGoldenTests) hold the padding to zeros.
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: Self.capacity)
        header = mnl_nlmsg_put_header(buffer)
        header.pointee.nlmsg_type = UInt16(type)
        header.pointee.nlmsg_flags = UInt16(truncatingIfNeeded: Int32(NLM_F_REQUEST) | flags)
    }

    deinit { buffer.deallocate() }

    /// Appends the fixed family header right after the nlmsghdr (mnl_nlmsg_put_extra_header).
    public func putFamilyHeader<Header>(_ value: Header) {
        let destination = mnl_nlmsg_put_extra_header(header, MemoryLayout<Header>.size)!
        withUnsafeBytes(of: value) { destination.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// The first attribute that did not fit in `capacity`, if any: the request is then refused
    /// when sent (EMSGSIZE), never sent cut short, and never a crash.
    private(set) var overflowedAttribute: Int?

    private func checkRoom(_ ok: Bool, _ type: Int) {
        if !ok && overflowedAttribute == nil { overflowedAttribute = type }
    }

    public func put(_ type: Int, u8 value: UInt8) {
        checkRoom(mnl_attr_put_u8_check(header, Self.capacity, UInt16(type), value), type)
    }

    public func put(_ type: Int, u16 value: UInt16) {
        checkRoom(mnl_attr_put_u16_check(header, Self.capacity, UInt16(type), value), type)
    }

    public func put(_ type: Int, u32 value: UInt32) {
        checkRoom(mnl_attr_put_u32_check(header, Self.capacity, UInt16(type), value), type)
    }

    /// A NUL-terminated string attribute (mnl_attr_put_strz), as the kernel expects for names.
    public func put(_ type: Int, string value: String) {
        // The name's bytes (`rawBytes`), as the kernel names the link.
        checkRoom(value.withRawCString { mnl_attr_put_strz_check(header, Self.capacity, UInt16(type), $0) }, type)
    }

    public func put(_ type: Int, bytes value: [UInt8]) {
        let ok = value.withUnsafeBytes {
            mnl_attr_put_check(header, Self.capacity, UInt16(type), $0.count, $0.baseAddress)
        }
        checkRoom(ok, type)
    }

    /// A nested attribute: mnl_attr_nest_start, which sets NLA_F_NESTED on the type, as the
    /// kernel's strict validation expects for new attributes.
    public func nest(_ type: Int, _ body: () -> Void) {
        guard let start = mnl_attr_nest_start_check(header, Self.capacity, UInt16(type)) else {
            checkRoom(false, type)
            return
        }
        body()
        mnl_attr_nest_end(header, start)
    }

    /// For VETH_INFO_PEER: a nested attribute that begins with a whole ifinfomsg.
    public func nest<Header>(_ type: Int, header familyHeader: Header, _ body: () -> Void) {
        nest(type) {
            let size = MemoryLayout<Header>.size
            guard Int(header.pointee.nlmsg_len) + Int(cmnl_align(size)) <= Self.capacity,
                let tail = mnl_nlmsg_get_payload_tail(header)
            else {
                checkRoom(false, type)
                return
            }
            withUnsafeBytes(of: familyHeader) { tail.copyMemory(from: $0.baseAddress!, byteCount: size) }
            header.pointee.nlmsg_len += UInt32(cmnl_align(size))
            body()
        }
    }

    /// The finished message with `sequence` set; EMSGSIZE when an attribute did not fit.
    func bytes(sequence: UInt32, operation: () -> String) throws(NetlinkError) -> [UInt8] {
        if let overflowedAttribute {
            throw NetlinkError(
                operation: operation(), errno: EMSGSIZE,
                extendedAck: "request larger than \(Self.capacity) bytes at attribute \(overflowedAttribute)")
        }
        header.pointee.nlmsg_seq = sequence
        return Array(UnsafeRawBufferPointer(start: buffer, count: Int(header.pointee.nlmsg_len)))
    }
}
