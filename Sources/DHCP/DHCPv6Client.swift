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
public struct DHCPv6Client: Sendable {
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
    /// When the current lease was granted (the time of the message that got it).
    public private(set) var boundAt: Double = 0
    public private(set) var transactionID: UInt32 = 0
    /// When the caller must call `tick` next; nil: never.
    public private(set) var nextDeadline: Double?

    private var attempt = 0
    private var exchangeStart: Double = 0
    private var requestSentAt: Double = 0
    private let randomSource: @Sendable () -> UInt32

    /// RFC 8415 7.6's SOL_TIMEOUT and REQ_TIMEOUT are 1 s; retransmissions double up to this.
    public var initialRetransmit: Double = 1
    public var maximumRetransmit: Double = 64

    public init(
        identity: DHCPv6ClientIdentity, random: @escaping @Sendable () -> UInt32 = { UInt32.random(in: .min ... .max) }
    ) {
        self.identity = identity
        self.randomSource = random
    }

    /// Resumes a lease kept across a daemon restart, bound, with its timers where they were.
    public init(
        identity: DHCPv6ClientIdentity, resuming lease: DHCPv6Lease, boundAt: Double,
        random: @escaping @Sendable () -> UInt32 = { UInt32.random(in: .min ... .max) }
    ) {
        self.init(identity: identity, random: random)
        self.lease = lease
        self.boundAt = boundAt
        state = .bound
        nextDeadline = boundAt + Double(lease.renewalSeconds)
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
        nextDeadline = now
    }

    // MARK: Messages

    private func message(_ type: DHCPv6MessageType, now: Double, includeServer: Bool) -> DHCPv6Message {
        let elapsed = UInt16(clamping: Int(((now - exchangeStart) * 100).rounded(.down)))
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
        copy.transactionID = randomSource() & 0x00FF_FFFF
        copy.exchangeStart = 0
        return copy.message(.release, now: 0, includeServer: true)
    }

    // MARK: Transitions

    private mutating func newExchange(now: Double) {
        transactionID = randomSource() & 0x00FF_FFFF
        exchangeStart = now
        attempt = 0
        requestSentAt = now
        nextDeadline = now + retransmitDelay()
    }

    /// RFC 8415 15: the first timeout, doubling to the maximum, each randomized by +/- 10 %.
    private func retransmitDelay() -> Double {
        let base = min(maximumRetransmit, initialRetransmit * Double(1 << min(attempt, 10)))
        let jitter = (Double(randomSource() % 1000) / 1000 - 0.5) * 0.2 * base
        return max(0.1, base + jitter)
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
            attempt = 0
            requestSentAt = now
            nextDeadline = now + retransmitDelay()
            return [.send(self.message(.request, now: now, includeServer: true))]
        case (.soliciting, .reply) where message.option(DHCPv6OptionCode.rapidCommit) != nil,
            (.requesting, .reply), (.renewing, .reply), (.rebinding, .reply):
            if message.status.code == DHCPv6Status.notOnLink { return lose("the server says NotOnLink", now: now) }
            // A renewal the server does not grant (NoBinding, an IA without an address) keeps
            // the valid lease's address while the client retries until it expires.
            guard let granted else { return [] }
            lease = granted
            boundAt = requestSentAt
            state = .bound
            nextDeadline = boundAt + Double(granted.renewalSeconds)
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
        nextDeadline = boundAt + Double(lease.renewalSeconds)
        return (nextDeadline ?? now) <= now ? tick(now: now) : []
    }

    /// Timers: retransmissions, T1 (RENEW), T2 (REBIND, without the server's identifier) and
    /// the end of the valid lifetime (the address is lost and the client starts over).
    public mutating func tick(now: Double) -> [DHCPv6Action] {
        guard let deadline = nextDeadline, now >= deadline else { return [] }
        switch state {
        case .idle:
            nextDeadline = nil
            return []
        case .soliciting:
            attempt += 1
            nextDeadline = now + retransmitDelay()
            return [.send(message(.solicit, now: now, includeServer: false))]
        case .requesting:
            attempt += 1
            // REQ_MAX_RC is 10; a server that advertised and then stays silent is given up sooner.
            if attempt > 4 { return start(now: now) }
            nextDeadline = now + retransmitDelay()
            return [.send(message(.request, now: now, includeServer: true))]
        case .confirming:
            // CNF_MAX_RD: no answer means nothing says the address is wrong; go on with it.
            if attempt >= 3 { return resumeTimers(now: now) }
            attempt += 1
            nextDeadline = now + retransmitDelay()
            return [.send(message(.confirm, now: now, includeServer: false))]
        case .bound, .renewing, .rebinding:
            guard let lease else { return start(now: now) }
            let t2 = boundAt + Double(lease.rebindingSeconds)
            let expiry = boundAt + Double(lease.validLifetime)
            if now >= expiry { return lose("the valid lifetime of \(lease.address) ended", now: now) }
            let type: DHCPv6MessageType = now >= t2 ? .rebind : .renew
            let nextState: State = type == .rebind ? .rebinding : .renewing
            if state != nextState {
                newExchange(now: now)
                state = nextState
            }
            requestSentAt = now
            // RFC 8415 18.2.4/18.2.5: REN_TIMEOUT and REB_TIMEOUT are 10 s, doubling to 600 s;
            // never past the next timer, and never more often than every 10 s.
            attempt += 1
            let limit = type == .rebind ? expiry : t2
            nextDeadline = min(limit, now + min(600, max(10, 10 * Double(1 << min(attempt - 1, 6)))))
            return [.send(message(type, now: now, includeServer: type == .renew))]
        }
    }
}
