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
/// Bounds-checked like `NetlinkMessage.split`: a malformed attribute ends the walk.
public struct NetlinkAttributes: Sendable {
    /// Every attribute in order, with NLA_F_NESTED and NLA_F_NET_BYTEORDER masked off the type.
    public private(set) var all: [(type: UInt16, value: [UInt8])] = []

    public init(_ bytes: [UInt8], from start: Int = 0) {
        let headerSize = MemoryLayout<nlattr>.size
        let typeMask = ~(UInt16(NLA_F_NESTED) | UInt16(NLA_F_NET_BYTEORDER))
        var offset = start
        while let attribute = bytes.load(nlattr.self, at: offset) {
            let length = Int(attribute.nla_len)
            guard length >= headerSize, offset + length <= bytes.count else { break }
            all.append((attribute.nla_type & typeMask, Array(bytes[(offset + headerSize)..<(offset + length)])))
            offset += cmnl_align(length)
        }
    }

    public subscript(type: Int) -> [UInt8]? { all.last(where: { Int($0.type) == type })?.value }

    public func u8(_ type: Int) -> UInt8? { self[type].flatMap { $0.count >= 1 ? $0[0] : nil } }
    public func u16(_ type: Int) -> UInt16? { self[type]?.load(UInt16.self, at: 0) }
    public func u32(_ type: Int) -> UInt32? { self[type]?.load(UInt32.self, at: 0) }
    public func i32(_ type: Int) -> Int32? { u32(type).map { Int32(bitPattern: $0) } }

    /// A string attribute without its terminating NUL.
    public func string(_ type: Int) -> String? {
        guard let value = self[type] else { return nil }
        let end = value.firstIndex(of: 0) ?? value.count
        return RawName.decode(value[0..<end])
    }

    public func nested(_ type: Int) -> NetlinkAttributes? { self[type].map { NetlinkAttributes($0) } }
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
