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
    /// How much of the buffer is zeroed before the first attribute: most requests fit.
    static let firstZeroed = 512
    private let buffer: UnsafeMutableRawPointer
    let header: UnsafeMutablePointer<nlmsghdr>
    /// The buffer is zeroed up to here; every write (its padding included) stays below it.
    /// libmnl before 1.0.5 (Debian 12's 1.0.4) leaves an attribute's padding as it found it,
    /// and the golden tests (NetlinkGoldenTests) hold the padding to zeros; zeroing all 16 KiB
    /// for every request was 14 % of an ADD's instructions (callgrind, memset).
    private var zeroed = 0

    /// Starts a message of `type` (RTM_NEWLINK, ...) with `flags` (NLM_F_REQUEST is always added).
    public init(type: Int, flags: Int32) {
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.capacity, alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: Self.firstZeroed)
        zeroed = Self.firstZeroed
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

    /// The room libmnl's checked writes are given: the zeroed part less an attribute's
    /// largest padding (libmnl checks the unpadded end), so a write and its padding land on
    /// zeros.
    private var room: Int { zeroed - 4 }

    /// Zeroes more of the buffer (four times as much, at most `capacity`); false when all of
    /// it is zeroed already.
    private func growZeroed() -> Bool {
        guard zeroed < Self.capacity else { return false }
        let grown = min(zeroed * 4, Self.capacity)
        (buffer + zeroed).initializeMemory(as: UInt8.self, repeating: 0, count: grown - zeroed)
        zeroed = grown
        return true
    }

    /// Runs a checked write with the room there is, growing the zeroed part until it fits or
    /// the buffer is full (the attribute is then recorded as the one that overflowed).
    private func write(_ type: Int, _ attempt: (Int) -> Bool) {
        while !attempt(room) {
            guard growZeroed() else { return checkRoom(false, type) }
        }
    }

    public func put(_ type: Int, u8 value: UInt8) {
        write(type) { mnl_attr_put_u8_check(header, $0, UInt16(type), value) }
    }

    public func put(_ type: Int, u16 value: UInt16) {
        write(type) { mnl_attr_put_u16_check(header, $0, UInt16(type), value) }
    }

    public func put(_ type: Int, u32 value: UInt32) {
        write(type) { mnl_attr_put_u32_check(header, $0, UInt16(type), value) }
    }

    /// A NUL-terminated string attribute (mnl_attr_put_strz), as the kernel expects for names.
    public func put(_ type: Int, string value: String) {
        // The name's bytes (`rawBytes`), as the kernel names the link.
        value.withRawCString { name in write(type) { mnl_attr_put_strz_check(header, $0, UInt16(type), name) } }
    }

    public func put(_ type: Int, bytes value: [UInt8]) {
        value.withUnsafeBytes { data in
            write(type) { mnl_attr_put_check(header, $0, UInt16(type), data.count, data.baseAddress) }
        }
    }

    /// A nested attribute: mnl_attr_nest_start, which sets NLA_F_NESTED on the type, as the
    /// kernel's strict validation expects for new attributes.
    public func nest(_ type: Int, _ body: () -> Void) {
        var start: UnsafeMutablePointer<nlattr>?
        write(type) {
            start = mnl_attr_nest_start_check(header, $0, UInt16(type))
            return start != nil
        }
        guard let start else { return }
        body()
        mnl_attr_nest_end(header, start)
    }

    /// For VETH_INFO_PEER: a nested attribute that begins with a whole ifinfomsg.
    public func nest<Header>(_ type: Int, header familyHeader: Header, _ body: () -> Void) {
        nest(type) {
            let size = MemoryLayout<Header>.size
            while Int(header.pointee.nlmsg_len) + Int(cmnl_align(size)) > zeroed, growZeroed() {}
            guard Int(header.pointee.nlmsg_len) + Int(cmnl_align(size)) <= zeroed,
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
