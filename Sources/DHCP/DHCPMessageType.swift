/// DHCP message types (option 53, RFC 2132 9.6).
public enum DHCPMessageType: UInt8, Sendable {
    case discover = 1
    case offer, request, decline, ack, nak, release, inform
}
