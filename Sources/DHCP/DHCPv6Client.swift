import Addressing

/// What the DHCPv6 client asks its caller to do. Every message goes to
/// All_DHCP_Relay_Agents_and_Servers (ff02::1:2) port 547 from the link-local address.
public enum DHCPv6Action: Sendable, Equatable {
    case send(DHCPv6Message)
    /// An address was granted or renewed (it may have changed).
    case bound(DHCPv6Lease)
    /// The binding ended (its valid lifetime passed, or the server said NotOnLink): the address
    /// must go.
    case lost(reason: String)
}

/// The client side of RFC 8415 for one IA_NA, as a state machine with no I/O and no clock of
/// its own (as `DHCPClient`): the caller passes the time into every call and performs the
/// returned actions.
///
/// SOLICIT carries Rapid Commit: a server that allows it answers with a REPLY at once (two
/// messages); otherwise ADVERTISE, REQUEST, REPLY. The first ADVERTISE with an address is
/// taken (a local segment answers in milliseconds; RFC 8415 18.2.1's wait for more is what
/// a preference of 255 skips). The first SOLICIT goes out at once, not after SOL_MAX_DELAY:
/// the container waits for it.
public struct DHCPv6Client: Sendable, TimedClient {
    public enum State: Sendable, Equatable {
        case idle
        case soliciting
        case requesting(advertised: DHCPv6Lease)
        case bound
        case renewing
        case rebinding
        /// After a daemon restart: CONFIRM that the kept address is still on link.
        case confirming
    }

    public let identity: DHCPv6ClientIdentity
    public private(set) var state: State = .idle
    public private(set) var lease: DHCPv6Lease?
    public private(set) var transactionID: UInt32 = 0
    /// The clock work (its timing API comes with `TimedClient`).
    package var timing: ClientTiming

    public init(
        identity: DHCPv6ClientIdentity, random: @escaping @Sendable () -> UInt32 = { UInt32.random(in: .min ... .max) }
    ) {
        self.identity = identity
        self.timing = ClientTiming(jitter: .tenPercent, random: random)
    }

    /// Resumes a lease kept across a daemon restart, bound, with its timers where they were.
    public init(
        identity: DHCPv6ClientIdentity, resuming lease: DHCPv6Lease, boundAt: Double,
        random: @escaping @Sendable () -> UInt32 = { UInt32.random(in: .min ... .max) }
    ) {
        self.init(identity: identity, random: random)
        self.lease = lease
        state = .bound
        timing.boundAt = boundAt
        timing.nextDeadline = boundAt + Double(lease.renewalSeconds)
    }

    /// BOUND -> CONFIRMING: asks whether the kept address is still on link (RFC 8415 18.2.3),
    /// so a lease resumed after a restart is checked without asking for a new address.
    public mutating func confirmAfterRestart(now: Double) -> [DHCPv6Action] {
        guard lease != nil else { return start(now: now) }
        prepareToConfirm(now: now)
        return tick(now: now)
    }

    /// BOUND -> CONFIRMING with the first CONFIRM due now: the next `tick` sends it (the
    /// daemon's renewal loop does, for every lease resumed after a restart).
    public mutating func prepareToConfirm(now: Double) {
        guard lease != nil else { return }
        newExchange(now: now)
        state = .confirming
        timing.nextDeadline = now
    }

    // MARK: Messages

    private func message(_ type: DHCPv6MessageType, now: Double, includeServer: Bool) -> DHCPv6Message {
        let elapsed = UInt16(clamping: Int(((now - timing.exchangeStart) * 100).rounded(.down)))
        var options = [
            DHCPv6Option(DHCPv6OptionCode.clientIdentifier, identity.duid),
            DHCPv6Option(DHCPv6OptionCode.elapsedTime, [UInt8(elapsed >> 8), UInt8(elapsed & 0xFF)]),
        ]
        var held: [DHCPv6Address] = []
        switch (type, state) {
        case (.request, .requesting(let advertised)):
            options.append(DHCPv6Option(DHCPv6OptionCode.serverIdentifier, advertised.serverIdentifier))
            held = [DHCPv6Address(address: advertised.address, preferredLifetime: 0, validLifetime: 0)]
        default:
            if let lease, type != .solicit {
                if includeServer {
                    options.append(DHCPv6Option(DHCPv6OptionCode.serverIdentifier, lease.serverIdentifier))
                }
                held = [DHCPv6Address(address: lease.address, preferredLifetime: 0, validLifetime: 0)]
            }
        }
        let association = DHCPv6IdentityAssociation(iaid: identity.iaid, t1: 0, t2: 0, addresses: held)
        options.append(association.option)
        if type != .release && type != .confirm {
            options.append(DHCPv6Option(DHCPv6OptionCode.optionRequest, [0, 23, 0, 24]))
        }
        if type == .solicit { options.append(DHCPv6Option(DHCPv6OptionCode.rapidCommit, [])) }
        return DHCPv6Message(type: type, transactionID: transactionID, options: options)
    }

    /// RELEASE of the held address to the server that granted it (nil: nothing held).
    public func release() -> DHCPv6Message? {
        guard lease != nil else { return nil }
        var copy = self
        copy.transactionID = timing.random() & 0x00FF_FFFF
        copy.timing.exchangeStart = 0
        return copy.message(.release, now: 0, includeServer: true)
    }

    // MARK: Transitions

    /// A new transaction whose first message goes out now; RFC 8415 15's timeouts, each
    /// randomized by +/- 10 %.
    private mutating func newExchange(now: Double) {
        transactionID = timing.random() & 0x00FF_FFFF
        timing.beginExchange(now: now)
    }

    /// IDLE -> SOLICITING: a SOLICIT now.
    public mutating func start(now: Double) -> [DHCPv6Action] {
        state = .soliciting
        newExchange(now: now)
        return [.send(message(.solicit, now: now, includeServer: false))]
    }

    /// Handles one received message: one for another transaction or another client (its
    /// Client Identifier differs or is missing) is ignored, as RFC 8415 16 requires.
    public mutating func receive(_ message: DHCPv6Message, now: Double) -> [DHCPv6Action] {
        guard message.transactionID == transactionID, message.option(DHCPv6OptionCode.clientIdentifier) == identity.duid
        else { return [] }
        let granted = DHCPv6Lease(reply: message, iaid: identity.iaid)
        switch (state, message.type) {
        case (.soliciting, .advertise):
            guard let granted else { return [] }  // NoAddrsAvail: wait for another server
            state = .requesting(advertised: granted)
            timing.nextMessage(now: now)
            return [.send(self.message(.request, now: now, includeServer: true))]
        case (.soliciting, .reply) where message.option(DHCPv6OptionCode.rapidCommit) != nil,
            (.requesting, .reply), (.renewing, .reply), (.rebinding, .reply):
            if message.status.code == DHCPv6Status.notOnLink { return lose("the server says NotOnLink", now: now) }
            // A renewal the server does not grant (NoBinding, an IA without an address) keeps
            // the valid lease's address while the client retries until it expires.
            guard let granted else { return [] }
            lease = granted
            state = .bound
            timing.bind(renewalSeconds: granted.renewalSeconds)
            return [.bound(granted)]
        case (.confirming, .reply):
            if message.status.code == DHCPv6Status.notOnLink {
                return lose("the kept address is not on this link (CONFIRM: NotOnLink)", now: now)
            }
            return resumeTimers(now: now)
        default:
            return []
        }
    }

    private mutating func lose(_ reason: String, now: Double) -> [DHCPv6Action] {
        let hadLease = lease != nil
        lease = nil
        return (hadLease ? [.lost(reason: reason)] : []) + start(now: now)
    }

    /// Back to BOUND on the lease's own timers (a confirmed lease, or no answer to CONFIRM).
    private mutating func resumeTimers(now: Double) -> [DHCPv6Action] {
        guard let lease else { return start(now: now) }
        state = .bound
        let renewal = timing.boundAt + Double(lease.renewalSeconds)
        timing.nextDeadline = renewal
        return renewal <= now ? tick(now: now) : []
    }

    /// Timers: retransmissions, T1 (RENEW), T2 (REBIND, without the server's identifier) and
    /// the end of the valid lifetime (the address is lost and the client starts over).
    public mutating func tick(now: Double) -> [DHCPv6Action] {
        guard let deadline = timing.nextDeadline, now >= deadline else { return [] }
        switch state {
        case .idle:
            timing.nextDeadline = nil
            return []
        case .soliciting:
            timing.retransmit(now: now)
            return [.send(message(.solicit, now: now, includeServer: false))]
        case .requesting:
            // REQ_MAX_RC is 10; a server that advertised and then stays silent is given up sooner.
            if timing.attempt >= 4 { return start(now: now) }
            timing.retransmit(now: now)
            return [.send(message(.request, now: now, includeServer: true))]
        case .confirming:
            // CNF_MAX_RD: no answer means nothing says the address is wrong; go on with it.
            if timing.attempt >= 3 { return resumeTimers(now: now) }
            timing.retransmit(now: now)
            return [.send(message(.confirm, now: now, includeServer: false))]
        case .bound, .renewing, .rebinding:
            guard let lease else { return start(now: now) }
            let type: DHCPv6MessageType
            let limit: Double
            switch timing.stage(now: now, rebindingSeconds: lease.rebindingSeconds, lifetime: lease.validLifetime) {
            case .expired: return lose("the valid lifetime of \(lease.address) ended", now: now)
            case .rebinding(let expiry): (type, limit) = (.rebind, expiry)
            case .renewing(let t2): (type, limit) = (.renew, t2)
            }
            let nextState: State = type == .rebind ? .rebinding : .renewing
            if state != nextState {
                newExchange(now: now)
                state = nextState
            }
            timing.requestSentAt = now
            // RFC 8415 18.2.4/18.2.5: REN_TIMEOUT and REB_TIMEOUT are 10 s, doubling to 600 s;
            // never past the next timer, and never more often than every 10 s.
            timing.attempt += 1
            timing.nextDeadline = min(
                limit, now + min(600, max(10, 10 * Double(1 << min(timing.attempt - 1, 6)))))
            return [.send(message(type, now: now, includeServer: type == .renew))]
        }
    }
}
