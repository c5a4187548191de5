/// Short, stable names for one attachment's firewall objects, so that DEL and GC find exactly
/// what ADD made without keeping state: FNV-1a 64 of the network name and of
/// (network, container id, interface name), in hex. Only these hex strings, addresses and
/// interface names we generated ever reach a firewall command line.
public struct AttachmentTag: Sendable, Equatable, Hashable {
    /// 8 hex digits naming the network.
    public let network: String
    /// 12 hex digits naming the attachment within it.
    public let attachment: String

    public init(network: String, containerID: String, ifName: String) {
        self.network = Self.hex(Self.fnv1a(Array(network.utf8)), digits: 8)
        self.attachment = Self.hex(Self.fnv1a(Array(network.utf8) + [0] + Array(containerID.utf8) + [0] + Array(ifName.utf8)), digits: 12)
    }

    public static func networkPrefix(_ network: String) -> String {
        hex(fnv1a(Array(network.utf8)), digits: 8)
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        let padded = String(repeating: "0", count: max(0, 16 - text.count)) + text
        return String(padded.suffix(digits))
    }
}
