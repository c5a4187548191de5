/// A 6-byte Ethernet address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 6 else { return nil }
        self.bytes = Array(bytes)
    }

    /// Parses six two-digit hex groups separated by ':' or '-' (case-insensitive). String and
    /// Substring have overloads of their own (see `IPAddress.init?(_: String)`).
    public init?(_ text: String) { self.init(Substring(text)) }

    public init?(_ text: some StringProtocol) { self.init(Substring(text)) }

    public init?(_ text: Substring) {
        let separator: Character = text.contains("-") ? "-" : ":"
        let parts = text.split(separator: separator, omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.count == 2, part.allSatisfy(\.isHexDigit), let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    /// "02:00:5e:10:00:01": lower-case hex, written digit by digit.
    public var description: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(17)
        for (index, byte) in bytes.enumerated() {
            if index > 0 { text.append(UInt8(ascii: ":")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    public var isMulticast: Bool { bytes[0] & 1 == 1 }

    /// A random locally administered unicast address (the first byte's low bits are 10).
    public static func randomLocal() -> MACAddress {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<6).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = (bytes[0] & 0xfc) | 0x02
        return MACAddress(sixBytes: bytes)
    }

    private init(sixBytes: [UInt8]) { bytes = sixBytes }
    public var isZero: Bool { bytes.allSatisfy { $0 == 0 } }
}
