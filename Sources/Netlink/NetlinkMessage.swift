import CMnl
import POSIX

/// One netlink message received from the kernel, copied out of its datagram.
public struct NetlinkMessage: Sendable {
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var portID: UInt32
    /// What follows the nlmsghdr, up to nlmsg_len.
    public var payload: [UInt8]

    static let headerSize = MemoryLayout<nlmsghdr>.size

    /// Splits a datagram into messages. Bounds-checked: a length field that is too small or
    /// runs past the datagram ends the walk, and what was read so far is returned.
    public static func split(_ datagram: [UInt8]) -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = 0
        while let header = datagram.load(nlmsghdr.self, at: offset) {
            let length = Int(header.nlmsg_len)
            guard length >= headerSize, offset + length <= datagram.count else { break }
            messages.append(
                NetlinkMessage(
                    type: header.nlmsg_type, flags: header.nlmsg_flags, sequence: header.nlmsg_seq,
                    portID: header.nlmsg_pid, payload: Array(datagram[(offset + headerSize)..<(offset + length)])))
            offset += cmnl_align(length)
        }
        return messages
    }

    /// The message as it came: its nlmsghdr again, then the payload, for parsers that take a
    /// whole `struct nlmsghdr *` (libnftnl's nftnl_*_nlmsg_parse).
    public var wholeMessage: [UInt8] {
        var header = nlmsghdr(
            nlmsg_len: UInt32(Self.headerSize + payload.count), nlmsg_type: type, nlmsg_flags: flags,
            nlmsg_seq: sequence, nlmsg_pid: portID)
        return withUnsafeBytes(of: &header) { Array($0) } + payload
    }
}

/// Attributes (struct nlattr: u16 length, u16 type, payload padded to 4) read from a buffer.
/// Bounds-checked like `NetlinkMessage.split`: a malformed attribute ends the walk. The
/// attributes are ranges of the one buffer (nested ones too): a value is copied out only when
/// asked for, and numbers are read in place.
public struct NetlinkAttributes: Sendable {
    private let bytes: [UInt8]
    /// Each attribute's type (NLA_F_NESTED and NLA_F_NET_BYTEORDER masked off) and where its
    /// value lies in `bytes`, in order.
    private var entries: [(type: UInt16, value: Range<Int>)] = []

    /// Every attribute in order, with NLA_F_NESTED and NLA_F_NET_BYTEORDER masked off the type.
    public var all: [(type: UInt16, value: [UInt8])] { entries.map { ($0.type, Array(bytes[$0.value])) } }

    /// The attributes in `bytes` from `start` to the end.
    public init(_ bytes: [UInt8], from start: Int = 0) {
        self.init(bytes, in: min(max(start, 0), bytes.count)..<bytes.count)
    }

    /// The attributes in `bytes[region]` (a nested attribute's value).
    private init(_ bytes: [UInt8], in region: Range<Int>) {
        self.bytes = bytes
        let headerSize = MemoryLayout<nlattr>.size
        let typeMask = ~(UInt16(NLA_F_NESTED) | UInt16(NLA_F_NET_BYTEORDER))
        let end = region.upperBound
        var offset = region.lowerBound
        while offset + headerSize <= end, let attribute = bytes.load(nlattr.self, at: offset) {
            let length = Int(attribute.nla_len)
            guard length >= headerSize, offset + length <= end else { break }
            entries.append((attribute.nla_type & typeMask, (offset + headerSize)..<(offset + length)))
            offset += cmnl_align(length)
        }
    }

    /// Where the last attribute of `type` lies in `bytes`.
    private func range(_ type: Int) -> Range<Int>? { entries.last(where: { Int($0.type) == type })?.value }

    public subscript(type: Int) -> [UInt8]? { range(type).map { Array(bytes[$0]) } }

    /// A number of `T`'s size at the start of the value; nil when the value is shorter.
    private func number<T: FixedWidthInteger>(_ type: Int, _: T.Type) -> T? {
        guard let value = range(type), value.count >= MemoryLayout<T>.size else { return nil }
        return bytes.load(T.self, at: value.lowerBound)
    }

    public func u8(_ type: Int) -> UInt8? { number(type, UInt8.self) }
    public func u16(_ type: Int) -> UInt16? { number(type, UInt16.self) }
    public func u32(_ type: Int) -> UInt32? { number(type, UInt32.self) }
    public func i32(_ type: Int) -> Int32? { u32(type).map { Int32(bitPattern: $0) } }

    /// A string attribute without its terminating NUL.
    public func string(_ type: Int) -> String? {
        guard let value = range(type) else { return nil }
        let end = bytes[value].firstIndex(of: 0) ?? value.upperBound
        return RawName.decode(bytes[value.lowerBound..<end])
    }

    public func nested(_ type: Int) -> NetlinkAttributes? { range(type).map { NetlinkAttributes(bytes, in: $0) } }
}

/// A reply's fixed family header (`ifinfomsg`, `ifaddrmsg`, `rtmsg`, `nlmsgerr` ...) read as
/// the C struct, and its attributes, which start at the struct's size, NLMSG_ALIGNed. nil
/// when the payload is shorter than the struct.
struct FamilyPayload<Header> {
    let header: Header
    let attributes: NetlinkAttributes

    init?(_ payload: [UInt8]) {
        guard let header = payload.load(Header.self, at: 0) else { return nil }
        self.header = header
        attributes = NetlinkAttributes(payload, from: cmnl_align(MemoryLayout<Header>.size))
    }
}

extension Array where Element == UInt8 {
    /// A C struct (host byte order, as netlink is) at `offset`; nil when it does not fit.
    func load<T>(_ type: T.Type, at offset: Int) -> T? {
        guard offset >= 0, offset + MemoryLayout<T>.size <= count else { return nil }
        return withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }
}
