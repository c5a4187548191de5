import Addressing

/// A BOOTP/DHCP message (RFC 2131 2): the fixed header and the options, each option's data
/// concatenated across repeated instances (RFC 3396) and across the `file`/`sname` fields
/// when option 52 says they are overloaded.
public struct DHCPMessage: Sendable, Equatable {
    public var op: UInt8 = 1  // 1 BOOTREQUEST, 2 BOOTREPLY
    public var hardwareType: UInt8 = 1  // Ethernet
    public var hardwareLength: UInt8 = 6
    public var hops: UInt8 = 0
    public var transactionID: UInt32 = 0
    public var seconds: UInt16 = 0
    /// Bit 15: BROADCAST (the server must broadcast its reply).
    public var flags: UInt16 = 0
    public var clientAddress = IPAddress(v4: 0)  // ciaddr
    public var yourAddress = IPAddress(v4: 0)  // yiaddr
    public var serverAddress = IPAddress(v4: 0)  // siaddr
    public var relayAddress = IPAddress(v4: 0)  // giaddr
    public var clientHardwareAddress: [UInt8] = [UInt8](repeating: 0, count: 16)
    /// Options in order of first appearance, data concatenated per code.
    public var options: [(code: UInt8, data: [UInt8])] = []

    public static let magicCookie: [UInt8] = [99, 130, 83, 99]
    public static let fixedLength = 236
    public static let broadcastFlag: UInt16 = 0x8000

    public init() {}

    public static func == (lhs: DHCPMessage, rhs: DHCPMessage) -> Bool {
        lhs.op == rhs.op && lhs.transactionID == rhs.transactionID && lhs.flags == rhs.flags
            && lhs.clientAddress == rhs.clientAddress && lhs.yourAddress == rhs.yourAddress
            && lhs.serverAddress == rhs.serverAddress && lhs.relayAddress == rhs.relayAddress
            && lhs.clientHardwareAddress == rhs.clientHardwareAddress && lhs.seconds == rhs.seconds
            && lhs.options.count == rhs.options.count
            && zip(lhs.options, rhs.options).allSatisfy { $0.code == $1.code && $0.data == $1.data }
    }

    public func option(_ code: UInt8) -> [UInt8]? { options.first { $0.code == code }?.data }

    public mutating func setOption(_ code: UInt8, _ data: [UInt8]) {
        if let index = options.firstIndex(where: { $0.code == code }) {
            options[index].data = data
        } else {
            options.append((code, data))
        }
    }

    public var messageType: DHCPMessageType? {
        option(DHCPOptionCode.messageType).flatMap { $0.count == 1 ? DHCPMessageType(rawValue: $0[0]) : nil }
    }

    // MARK: Encoding

    /// The message on the wire: options after the magic cookie, each longer than 255 bytes
    /// split into several instances, then END, padded to the BOOTP minimum of 300 bytes.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = [op, hardwareType, hardwareLength, hops]
        bytes += Self.be32(transactionID) + Self.be16(seconds) + Self.be16(flags)
        for address in [clientAddress, yourAddress, serverAddress, relayAddress] { bytes += address.bytes }
        bytes += (clientHardwareAddress + [UInt8](repeating: 0, count: 16)).prefix(16)
        bytes += [UInt8](repeating: 0, count: 64 + 128)
        bytes += Self.magicCookie
        for (code, data) in options where code != DHCPOptionCode.pad && code != DHCPOptionCode.end {
            var rest = data[...]
            repeat {
                let chunk = rest.prefix(255)
                bytes += [code, UInt8(chunk.count)] + chunk
                rest = rest.dropFirst(chunk.count)
            } while !rest.isEmpty
        }
        bytes.append(DHCPOptionCode.end)
        if bytes.count < 300 { bytes += [UInt8](repeating: 0, count: 300 - bytes.count) }
        return bytes
    }

    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }
    static func be32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8((value >> (24 - 8 * UInt32($0))) & 0xff) } }

    // MARK: Decoding

    /// Why a datagram is not a DHCP message; such datagrams are dropped.
    public enum DecodingError: Error, Sendable, Equatable {
        case tooShort(Int)
        case badMagicCookie
        case truncatedOption(code: UInt8)
        case badHardwareLength(UInt8)
    }

    /// Parses a datagram, trusting no length field: every read is checked against the data.
    public init(decoding bytes: [UInt8]) throws(DecodingError) {
        guard bytes.count >= Self.fixedLength + 4 else { throw .tooShort(bytes.count) }
        op = bytes[0]
        hardwareType = bytes[1]
        hardwareLength = bytes[2]
        guard hardwareLength <= 16 else { throw .badHardwareLength(hardwareLength) }
        hops = bytes[3]
        transactionID = Self.read32(bytes, 4)
        seconds = UInt16(bytes[8]) << 8 | UInt16(bytes[9])
        flags = UInt16(bytes[10]) << 8 | UInt16(bytes[11])
        clientAddress = IPAddress(v4: Self.read32(bytes, 12))
        yourAddress = IPAddress(v4: Self.read32(bytes, 16))
        serverAddress = IPAddress(v4: Self.read32(bytes, 20))
        relayAddress = IPAddress(v4: Self.read32(bytes, 24))
        clientHardwareAddress = Array(bytes[28..<44])
        guard Array(bytes[236..<240]) == Self.magicCookie else { throw .badMagicCookie }

        var collected: [(code: UInt8, data: [UInt8])] = []
        func append(_ code: UInt8, _ data: ArraySlice<UInt8>) {
            if let index = collected.firstIndex(where: { $0.code == code }) {
                collected[index].data += data
            } else {
                collected.append((code, Array(data)))
            }
        }
        try Self.walkOptions(bytes[240...], into: append)
        // Option 52: the file (1), sname (2) or both (3) fields hold more options.
        if let overload = collected.first(where: { $0.code == DHCPOptionCode.overload })?.data.first {
            if overload & 1 != 0 { try Self.walkOptions(bytes[108..<236], into: append) }
            if overload & 2 != 0 { try Self.walkOptions(bytes[44..<108], into: append) }
        }
        options = collected
    }

    private static func walkOptions(_ region: ArraySlice<UInt8>, into append: (UInt8, ArraySlice<UInt8>) -> Void)
        throws(DecodingError)
    {
        var index = region.startIndex
        while index < region.endIndex {
            let code = region[index]
            if code == DHCPOptionCode.end { return }
            if code == DHCPOptionCode.pad {
                index += 1
                continue
            }
            guard index + 1 < region.endIndex else { throw .truncatedOption(code: code) }
            let length = Int(region[index + 1])
            let start = index + 2
            guard start + length <= region.endIndex else { throw .truncatedOption(code: code) }
            append(code, region[start..<(start + length)])
            index = start + length
        }
    }

    static func read32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }
}

/// DHCP replies as they arrive on a packet socket: an IPv4 packet carrying UDP to port 68.
public enum DHCPPacket {
    /// The UDP payload of `packet` when it is an unfragmented IPv4 UDP datagram to port 68
    /// whose lengths are consistent; nil for anything else (never trusts a length field
    /// beyond the bytes there are).
    public static func payload(ofIPv4 packet: [UInt8]) -> [UInt8]? {
        guard packet.count >= 20, packet[0] >> 4 == 4 else { return nil }
        let headerLength = Int(packet[0] & 0x0f) * 4
        let totalLength = Int(packet[2]) << 8 | Int(packet[3])
        let fragment = (Int(packet[6]) << 8 | Int(packet[7])) & 0x3fff  // more-fragments flag and offset
        guard headerLength >= 20, packet[9] == 17, fragment == 0,
            totalLength >= headerLength + 8, totalLength <= packet.count
        else { return nil }
        let udp = headerLength
        let destinationPort = Int(packet[udp + 2]) << 8 | Int(packet[udp + 3])
        let udpLength = Int(packet[udp + 4]) << 8 | Int(packet[udp + 5])
        guard destinationPort == 68, udpLength >= 8, udp + udpLength <= totalLength else { return nil }
        return Array(packet[(udp + 8)..<(udp + udpLength)])
    }
}
