import Addressing

/// One entry of `runtimeConfig.portMappings` (CNI's CONVENTIONS.md): traffic to
/// `hostIP:hostPort` is forwarded to the container's `containerPort`.
public struct PortMapping: Sendable, Equatable {
    /// The transport protocols upstream's portmap forwards.
    public enum TransportProtocol: String, Sendable, CaseIterable {
        case tcp, udp, sctp
    }

    public var hostPort: UInt16
    public var containerPort: UInt16
    public var transport: TransportProtocol
    /// Only traffic to this address of the host (nil: any local address; the unspecified
    /// address means the same).
    public var hostIP: IPAddress?

    public init(hostPort: UInt16, containerPort: UInt16, transport: TransportProtocol, hostIP: IPAddress? = nil) {
        self.hostPort = hostPort
        self.containerPort = containerPort
        self.transport = transport
        self.hostIP = hostIP
    }

    /// Whether the mapping applies to a container address of `family`: a `hostIP` of the
    /// other family is skipped for it (as upstream does).
    func applies(to family: IPAddress.Family) -> Bool { hostIP.map { $0.family == family } ?? true }

    /// The host address the rules match, when there is one (the unspecified address is none).
    var destination: IPAddress? {
        guard let hostIP, !hostIP.isUnspecified else { return nil }
        return hostIP
    }
}

/// What portmap's ADD, CHECK and DEL of one attachment are told (upstream v1.9's keys).
public struct PortMapRequest: Sendable {
    /// The network name and container id: they name the attachment's chain and comments.
    public var network: String
    public var containerID: String
    public var mappings: [PortMapping]
    /// `snat` (default true): mark hairpin and localhost traffic for masquerading.
    public var snat: Bool
    /// `masqAll`: mark traffic from any source, not only the container's subnet.
    public var masqueradeAll: Bool
    /// `markMasqBit` (0-31, default 13).
    public var markBit: Int
    /// `externalSetMarkChain`: an existing chain that marks for masquerading (iptables only).
    public var externalSetMarkChain: String?
    /// `conditionsV4` / `conditionsV6`: extra match arguments of the entry rules, in the
    /// backend's own syntax (iptables arguments, or nftables expressions).
    public var conditionsV4: [String]
    public var conditionsV6: [String]

    public init(
        network: String, containerID: String, mappings: [PortMapping], snat: Bool = true, masqueradeAll: Bool = false,
        markBit: Int = 13, externalSetMarkChain: String? = nil, conditionsV4: [String] = [],
        conditionsV6: [String] = []
    ) {
        self.network = network
        self.containerID = containerID
        self.mappings = mappings
        self.snat = snat
        self.masqueradeAll = masqueradeAll
        self.markBit = markBit
        self.externalSetMarkChain = externalSetMarkChain
        self.conditionsV4 = conditionsV4
        self.conditionsV6 = conditionsV6
    }

    func conditions(_ family: IPAddress.Family) -> [String] { family == .v4 ? conditionsV4 : conditionsV6 }

    /// `0x2000/0x2000` for bit 13: the mark and mask as upstream writes them (Go's `%#x`).
    var markDefinition: String {
        let value = "0x" + String(UInt32(1) << UInt32(markBit & 31), radix: 16)
        return value + "/" + value
    }
}

/// Host port forwarding in one firewall backend, in the reference's formats, so that either
/// implementation's DEL removes what the other's ADD made.
public protocol PortMapper {
    var name: String { get }
    /// nil when the backend can be used; otherwise why not (for STATUS).
    func unusableReason() -> String?
    /// Forwards `request.mappings` to `container` (the container's address on this network;
    /// one family per call), replacing what an earlier ADD of the attachment made for that
    /// family: one transaction.
    func forward(_ request: PortMapRequest, to container: IPPrefix) throws(FirewallError)
    /// Throws when a rule that `forward` makes for `container` is missing.
    func check(_ request: PortMapRequest, for container: IPPrefix) throws(FirewallError)
    /// Removes the attachment's rules in both families; nothing there is fine.
    func remove(network: String, containerID: String) throws(FirewallError)
    /// Removes the rules of `network`'s attachments whose container is not in `validContainers`.
    func collectGarbage(network: String, validContainers: Set<String>) throws(FirewallError)
}
