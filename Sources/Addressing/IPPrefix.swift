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

    /// Parses "ADDRESS/LENGTH" (decimal length within the family's width). String and
    /// Substring have overloads of their own, so callers do not run the generic body (see
    /// `IPAddress.init?(_: String)`).
    public init?(_ text: String) { self.init(Substring(text)) }

    public init?(_ text: some StringProtocol) { self.init(Substring(text)) }

    public init?(_ text: Substring) {
        guard let slash = text.firstIndex(of: "/") else { return nil }
        let lengthText = text[text.index(after: slash)...]
        guard let address = IPAddress(text[..<slash]), !lengthText.isEmpty, lengthText.count <= 3,
            lengthText.allSatisfy(\.isASCIIDigit), let length = Int(lengthText)
        else { return nil }
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
