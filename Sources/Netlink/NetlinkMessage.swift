/// One netlink message received from the kernel, copied out of its datagram.
public struct NetlinkMessage: Sendable {
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var portID: UInt32
    /// What follows the 16-byte nlmsghdr, up to nlmsg_len.
    public var payload: [UInt8]

    static let headerSize = 16

    /// Splits a datagram into messages. Bounds-checked: a length field that is too small or
    /// runs past the datagram ends the walk, and what was read so far is returned.
    public static func split(_ datagram: [UInt8]) -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = 0
        while offset + headerSize <= datagram.count {
            let length = Int(datagram.loadUInt32(at: offset))
            guard length >= headerSize, offset + length <= datagram.count else { break }
            messages.append(NetlinkMessage(
                type: datagram.loadUInt16(at: offset + 4),
                flags: datagram.loadUInt16(at: offset + 6),
                sequence: datagram.loadUInt32(at: offset + 8),
                portID: datagram.loadUInt32(at: offset + 12),
                payload: Array(datagram[(offset + headerSize)..<(offset + length)])))
            offset += (length + 3) & ~3
        }
        return messages
    }
}

/// Attributes (struct nlattr: u16 length, u16 type, payload padded to 4) read from a buffer.
/// Bounds-checked like `NetlinkMessage.split`: a malformed attribute ends the walk.
public struct NetlinkAttributes: Sendable {
    /// Every attribute in order, with NLA_F_NESTED and NLA_F_NET_BYTEORDER masked off the type.
    public private(set) var all: [(type: UInt16, value: [UInt8])] = []

    public init(_ bytes: [UInt8], from start: Int = 0) {
        var offset = start
        while offset + 4 <= bytes.count {
            let length = Int(bytes.loadUInt16(at: offset))
            let type = bytes.loadUInt16(at: offset + 2) & 0x3FFF
            guard length >= 4, offset + length <= bytes.count else { break }
            all.append((type, Array(bytes[(offset + 4)..<(offset + length)])))
            offset += (length + 3) & ~3
        }
    }

    public subscript(type: Int) -> [UInt8]? { all.last(where: { Int($0.type) == type })?.value }

    public func u8(_ type: Int) -> UInt8? { self[type].flatMap { $0.count >= 1 ? $0[0] : nil } }
    public func u16(_ type: Int) -> UInt16? { self[type].flatMap { $0.count >= 2 ? $0.loadUInt16(at: 0) : nil } }
    public func u32(_ type: Int) -> UInt32? { self[type].flatMap { $0.count >= 4 ? $0.loadUInt32(at: 0) : nil } }
    public func i32(_ type: Int) -> Int32? { u32(type).map { Int32(bitPattern: $0) } }

    /// A string attribute without its terminating NUL.
    public func string(_ type: Int) -> String? {
        guard let value = self[type] else { return nil }
        let end = value.firstIndex(of: 0) ?? value.count
        return String(decoding: value[0..<end], as: UTF8.self)
    }

    public func nested(_ type: Int) -> NetlinkAttributes? { self[type].map { NetlinkAttributes($0) } }
}

extension Array where Element == UInt8 {
    /// Host-order loads at any offset (netlink uses host byte order); the caller checks bounds.
    func loadUInt16(at offset: Int) -> UInt16 {
        withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt16.self) }
    }

    func loadUInt32(at offset: Int) -> UInt32 {
        withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }

    func loadInt32(at offset: Int) -> Int32 { Int32(bitPattern: loadUInt32(at: offset)) }
}
