/// An address with a prefix length, as CNI writes it ("10.1.2.3/24"): the host bits are kept,
/// so one value says both the interface's address and its subnet.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(address: IPAddress, prefixLength: Int) {
        guard prefixLength >= 0, prefixLength <= address.family.bitWidth else { return nil }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Parses "ADDRESS/LENGTH" (decimal length within the family's width).
    public init?(_ text: some StringProtocol) {
        guard let slash = text.firstIndex(of: "/") else { return nil }
        let lengthText = text[text.index(after: slash)...]
        guard let address = IPAddress(text[..<slash]), !lengthText.isEmpty, lengthText.count <= 3,
              lengthText.allSatisfy(\.isASCIIDigit), let length = Int(lengthText) else { return nil }
        self.init(address: address, prefixLength: length)
    }

    public var family: IPAddress.Family { address.family }
    public var description: String { "\(address)/\(prefixLength)" }

    /// The first address of the subnet (host bits cleared).
    public var network: IPAddress { address.masked(to: prefixLength) }
    /// The last address of the subnet (host bits set): the broadcast address for IPv4.
    public var lastAddress: IPAddress { address.masked(to: prefixLength, settingHostBits: true) }
    /// The subnet itself, host bits cleared ("10.1.2.0/24").
    public var subnet: IPPrefix { IPPrefix(address: network, prefixLength: prefixLength) ?? self }
    public var hasHostBits: Bool { address != network }

    public func contains(_ other: IPAddress) -> Bool {
        other.family == family && other.masked(to: prefixLength) == network
    }

    public func overlaps(_ other: IPPrefix) -> Bool {
        other.family == family && (contains(other.network) || other.contains(network))
    }
}

/// A 6-byte Ethernet address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 6 else { return nil }
        self.bytes = Array(bytes)
    }

    /// Parses six two-digit hex groups separated by ':' or '-' (case-insensitive).
    public init?(_ text: some StringProtocol) {
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

    public var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
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
