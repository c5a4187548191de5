/// The clock work both DHCP clients do alike (RFC 2131 4.1, RFC 8415 15): the exchange under
/// way (when it began, for the elapsed-time field; when its last message was sent, the moment
/// a granted lease's timers start from), its retransmissions (a first timeout doubling to a
/// maximum, randomized the family's way), the lease's stage by its timers, and when the
/// caller must come back (`nextDeadline`). Times are the caller's monotonic seconds.
package struct ClientTiming: Sendable {
    /// How a retransmission timeout is randomized.
    enum Jitter: Sendable {
        /// RFC 2131 4.1: +/- 1 s, scaled down with a first timeout below 2 s.
        case plusMinusOneSecond
        /// RFC 8415 15: +/- 10 % of the timeout.
        case tenPercent
    }

    /// Where a lease is by its timers once T1 is due: renewing until T2, rebinding until the
    /// end of its lifetime, or expired.
    enum LeaseStage: Equatable {
        case renewing(until: Double)
        case rebinding(until: Double)
        case expired
    }

    let jitter: Jitter
    let random: @Sendable () -> UInt32
    var initialRetransmit: Double = 1
    var maximumRetransmit: Double = 64
    /// Retransmissions of the current message so far.
    var attempt = 0
    var exchangeStart: Double = 0
    /// When the message whose reply grants the lease was (last) sent.
    var requestSentAt: Double = 0
    /// When the current lease was granted (the send that got it).
    var boundAt: Double = 0
    /// When the caller must call `tick` next; nil: never.
    var nextDeadline: Double?

    init(jitter: Jitter, random: @escaping @Sendable () -> UInt32) {
        self.jitter = jitter
        self.random = random
    }

    /// The timeout before the next retransmission: `initialRetransmit` doubled per attempt up
    /// to `maximumRetransmit`, randomized, never under 0.1 s.
    func retransmitDelay() -> Double {
        let base = min(maximumRetransmit, initialRetransmit * Double(1 << min(attempt, 10)))
        let unit = Double(random() % 1000) / 1000 - 0.5
        let spread =
            switch jitter {
            case .plusMinusOneSecond: min(1, base / 2)
            case .tenPercent: 0.2 * base
            }
        return max(0.1, base + unit * spread)
    }

    /// A new exchange whose first message goes out now.
    mutating func beginExchange(now: Double) {
        exchangeStart = now
        nextMessage(now: now)
    }

    /// The exchange's next message goes out now (a REQUEST after an OFFER or ADVERTISE): its
    /// retransmissions count afresh.
    mutating func nextMessage(now: Double) {
        attempt = 0
        requestSentAt = now
        nextDeadline = now + retransmitDelay()
    }

    /// The current message again, after a longer timeout.
    mutating func retransmit(now: Double) {
        attempt += 1
        nextDeadline = now + retransmitDelay()
    }

    /// A lease was granted: its timers start at the send that got it; next, T1.
    mutating func bind(renewalSeconds: UInt32) {
        boundAt = requestSentAt
        nextDeadline = boundAt + Double(renewalSeconds)
    }

    /// Where the lease granted at `boundAt` is at `now` (T1 due or past).
    func stage(now: Double, rebindingSeconds: UInt32, lifetime: UInt32) -> LeaseStage {
        let rebinding = boundAt + Double(rebindingSeconds)
        let expiry = boundAt + Double(lifetime)
        if now >= expiry { return .expired }
        if now >= rebinding { return .rebinding(until: expiry) }
        return .renewing(until: rebinding)
    }
}

/// A DHCP client whose clock work is a `ClientTiming` (DHCPClient, DHCPv6Client): the timing
/// API both offer, written once.
package protocol TimedClient {
    var timing: ClientTiming { get set }
}

extension TimedClient {
    /// When the current lease was granted (the time of the message that got it).
    package var boundAt: Double { timing.boundAt }
    /// When the caller must call `tick` next (a retransmission or a lease timer); nil: never.
    package var nextDeadline: Double? { timing.nextDeadline }
    /// The first retransmission comes after this many seconds (1 s: RFC 8415 7.6's SOL_TIMEOUT
    /// and REQ_TIMEOUT; RFC 2131 4.1 uses 4 s for 10 Mb/s Ethernet, but a local segment
    /// answers in milliseconds, so DHCPv4 starts lower too and backs off the same way).
    package var initialRetransmit: Double {
        get { timing.initialRetransmit }
        set { timing.initialRetransmit = newValue }
    }
    /// Retransmission timeouts double up to this many seconds.
    package var maximumRetransmit: Double {
        get { timing.maximumRetransmit }
        set { timing.maximumRetransmit = newValue }
    }
}
