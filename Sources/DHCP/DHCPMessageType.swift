/// DHCP message types (option 53, RFC 2132 9.6).
public enum DHCPMessageType: UInt8, Sendable {
    case discover = 1
    case offer, request, decline, ack, nak, release, inform
}

extension DHCPMessage {
    /// The message's type as logs and errors name it ("OFFER", "NAK"); "other" without option 53.
    public var typeName: String { messageType.map { "\($0)".uppercased() } ?? "other" }
}

extension DHCPv6Message {
    /// The message's type as logs and errors name it ("ADVERTISE", "REPLY").
    public var typeName: String { "\(type)".uppercased() }
}
