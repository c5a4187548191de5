import POSIX

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
        self.network = Self.networkPrefix(network)
        self.attachment = FNV1a.hex(
            FNV1a.hash(network.rawBytes + [0] + containerID.rawBytes + [0] + ifName.rawBytes),
            digits: 12)
    }

    public static func networkPrefix(_ network: String) -> String {
        FNV1a.hex(FNV1a.hash(network.utf8), digits: 8)
    }
}
