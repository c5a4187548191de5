import DHCP

/// A family's client state machine as the lease manager drives it: DHCPClient (RFC 2131)
/// and DHCPv6Client (RFC 8415) alike.
protocol LeaseClient: ExchangeClient where Lease: BoundLease {
    var lease: Lease? { get }
    /// When the lease was granted (monotonic seconds).
    var boundAt: Double { get }
    /// Where the client is with its lease.
    var phase: LeasePhase { get }
    /// The ceiling of the retransmission interval (the daemon's `-resendmax`).
    var maximumRetransmit: Double { get set }
    /// The RELEASE of the held lease and where it goes; nil when nothing is held.
    func release() -> Outgoing?
    /// The first exchange: a DISCOVER or SOLICIT now.
    mutating func steps(startingAt now: Double) -> [ExchangeStep<Outgoing, Lease>]
}

extension DHCPClient: LeaseClient {
    var phase: LeasePhase { state.phase }

    mutating func steps(startingAt now: Double) -> [ExchangeStep<Outgoing, DHCPLease>] {
        Self.steps(start(now: now))
    }
}

extension DHCPv6Client: LeaseClient {
    var phase: LeasePhase { state.phase }

    mutating func steps(startingAt now: Double) -> [ExchangeStep<DHCPv6Message, DHCPv6Lease>] {
        Self.steps(start(now: now))
    }
}
