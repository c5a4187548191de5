/// Where a client is with its lease, alike for DHCPv4 and DHCPv6: what `dhcp leases` shows.
public enum LeasePhase: String, Sendable {
    /// Asking for a first lease (nothing bound yet).
    case acquiring
    case bound
    /// Extending the lease with the server that granted it (T1 passed).
    case renewing
    /// Extending it with any server (T2 passed).
    case rebinding
    /// After a restart: the kept lease is being confirmed (DHCPv4 INIT-REBOOT, DHCPv6 CONFIRM).
    case confirming
}

extension DHCPClient.State {
    public var phase: LeasePhase {
        switch self {
        case .idle, .selecting, .requesting: .acquiring
        case .bound: .bound
        case .renewing: .renewing
        case .rebinding: .rebinding
        case .rebooting: .confirming
        }
    }
}

extension DHCPv6Client.State {
    public var phase: LeasePhase {
        switch self {
        case .idle, .soliciting, .requesting: .acquiring
        case .bound: .bound
        case .renewing: .renewing
        case .rebinding: .rebinding
        case .confirming: .confirming
        }
    }
}
