import Addressing

/// Where a client message goes.
public enum DHCPDestination: Sendable, Equatable {
    /// 255.255.255.255:67 from 0.0.0.0 or the current address.
    case broadcast
    /// The server's address, from our leased address (renewal, release).
    case unicast(IPAddress)
}

/// What the client asks its caller to do.
public enum DHCPAction: Sendable, Equatable {
    case send(DHCPMessage, DHCPDestination)
    /// A lease was granted or renewed (the address may have changed).
    case bound(DHCPLease)
    /// The lease ended (expired or refused with NAK): the address must go.
    case lost(reason: String)
}

/// Identity and wishes of one client: what goes into every message.
public struct DHCPClientIdentity: Sendable, Equatable {
    public var hardwareAddress: [UInt8]
    /// Option 61: type 0 followed by "<containerID>/<network>/<ifname>", distinct per
    /// attachment even when containers share a MAC (ipvlan).
    public var clientIdentifier: [UInt8]
    public var hostName: String?
    /// Option 55.
    public var parameterRequestList: [UInt8]
    /// Options the caller wants sent as they are (the reference's `provide`).
    public var extraOptions: [(code: UInt8, data: [UInt8])]
    /// Ask for broadcast replies (the BOOTP broadcast flag): off by default, as the reference's;
    /// needed where a reply unicast to the offered address cannot arrive (ipvlan, whose slaves
    /// share the master's MAC, or a receiver without a packet socket).
    public var broadcast: Bool

    public static let defaultParameters: [UInt8] = [
        DHCPOptionCode.subnetMask, DHCPOptionCode.router, DHCPOptionCode.domainNameServer, DHCPOptionCode.domainName,
        DHCPOptionCode.domainSearch, DHCPOptionCode.classlessStaticRoutes, DHCPOptionCode.staticRoutes,
        DHCPOptionCode.interfaceMTU, DHCPOptionCode.leaseTime, DHCPOptionCode.renewalTime, DHCPOptionCode.rebindingTime,
    ]

    /// A client identifier given among `extraOptions` (option 61, the reference's
    /// `provide: [{"option": "dhcp-client-identifier", ...}]`) replaces the default one, in
    /// every message (RELEASE included), so the server always sees the same client.
    public init(
        hardwareAddress: [UInt8], containerID: String, network: String, ifName: String, hostName: String? = nil,
        parameterRequestList: [UInt8] = DHCPClientIdentity.defaultParameters,
        extraOptions: [(code: UInt8, data: [UInt8])] = [], broadcast: Bool = false
    ) {
        self.hardwareAddress = hardwareAddress
        self.clientIdentifier =
            extraOptions.last(where: { $0.code == DHCPOptionCode.clientIdentifier })?.data
            ?? [0] + Array("\(containerID)/\(network)/\(ifName)".utf8)
        self.hostName = hostName
        self.parameterRequestList = parameterRequestList
        self.extraOptions = extraOptions.filter { $0.code != DHCPOptionCode.clientIdentifier }
        self.broadcast = broadcast
    }

    public static func == (lhs: DHCPClientIdentity, rhs: DHCPClientIdentity) -> Bool {
        lhs.hardwareAddress == rhs.hardwareAddress && lhs.clientIdentifier == rhs.clientIdentifier
            && lhs.hostName == rhs.hostName && lhs.parameterRequestList == rhs.parameterRequestList
            && lhs.broadcast == rhs.broadcast && lhs.extraOptions.count == rhs.extraOptions.count
            && zip(lhs.extraOptions, rhs.extraOptions).allSatisfy { $0.code == $1.code && $0.data == $1.data }
    }
}

/// The client side of RFC 2131 as a state machine with no I/O and no clock of its own: the
/// caller passes the time (seconds, monotonic) into every call and performs the returned
/// actions, so tests drive it through renew, rebind, expiry and NAK without waiting.
public struct DHCPClient: Sendable, TimedClient {
    public enum State: Sendable, Equatable {
        case idle
        case selecting
        case requesting(offer: DHCPLease)
        case bound
        case renewing
        case rebinding
        /// INIT-REBOOT (RFC 2131 3.2): a lease kept across a restart is confirmed with the
        /// server before it is relied on again.
        case rebooting
    }

    public let identity: DHCPClientIdentity
    public private(set) var state: State = .idle
    public private(set) var lease: DHCPLease?
    public private(set) var transactionID: UInt32
    /// The clock work (its timing API comes with `TimedClient`).
    package var timing: ClientTiming

    public init(
        identity: DHCPClientIdentity, random: @escaping @Sendable () -> UInt32 = { UInt32.random(in: .min ... .max) }
    ) {
        self.identity = identity
        self.timing = ClientTiming(jitter: .plusMinusOneSecond, random: random)
        self.transactionID = random()
    }

    /// Resumes a lease kept across a daemon restart: BOUND (or later) at the right place.
    public init(
        identity: DHCPClientIdentity, resuming lease: DHCPLease, boundAt: Double, now: Double,
        random: @escaping @Sendable () -> UInt32 = { UInt32.random(in: .min ... .max) }
    ) {
        self.init(identity: identity, random: random)
        self.lease = lease
        self.state = .bound
        timing.boundAt = boundAt
        timing.nextDeadline = boundAt + Double(lease.renewalSeconds)
    }

    /// Starts INIT-REBOOT for a resumed lease: at the next `tick` a REQUEST for the same
    /// address (option 50, no server identifier, ciaddr 0) is broadcast, retransmitted a few
    /// times; an ACK renews the lease at once, a NAK loses it (and DISCOVER begins), and no
    /// answer at all keeps it until its own timers (a server may be away for a while).
    public mutating func confirmAfterRestart(now: Double) {
        guard lease != nil else { return }
        state = .rebooting
        transactionID = timing.random()
        timing.exchangeStart = now
        timing.attempt = 0
        timing.nextDeadline = now
    }

    // MARK: Messages

    private func baseMessage(_ type: DHCPMessageType, now: Double) -> DHCPMessage {
        var message = DHCPMessage()
        message.transactionID = transactionID
        message.seconds = UInt16(clamping: Int(max(0, now - timing.exchangeStart)))
        message.clientHardwareAddress = identity.hardwareAddress
        message.hardwareLength = UInt8(min(16, identity.hardwareAddress.count))
        if identity.broadcast { message.flags = DHCPMessage.broadcastFlag }
        message.setOption(DHCPOptionCode.messageType, [type.rawValue])
        message.setOption(DHCPOptionCode.clientIdentifier, identity.clientIdentifier)
        return message
    }

    private func withRequestOptions(_ message: DHCPMessage) -> DHCPMessage {
        var message = message
        message.setOption(DHCPOptionCode.maximumMessageSize, DHCPMessage.be16(1500))
        if let hostName = identity.hostName, !hostName.isEmpty {
            message.setOption(DHCPOptionCode.hostName, Array(hostName.utf8.prefix(255)))
        }
        if !identity.parameterRequestList.isEmpty {
            message.setOption(DHCPOptionCode.parameterRequestList, identity.parameterRequestList)
        }
        for (code, data) in identity.extraOptions { message.setOption(code, data) }
        return message
    }

    /// DISCOVER with Rapid Commit (RFC 4039, option 80, empty): a server that supports it
    /// answers with the ACK at once (two messages instead of four); others ignore it and OFFER.
    private func discover(now: Double) -> DHCPMessage {
        var message = withRequestOptions(baseMessage(.discover, now: now))
        message.setOption(DHCPOptionCode.rapidCommit, [])
        return message
    }

    private func request(for offer: DHCPLease, now: Double) -> DHCPMessage {
        var message = withRequestOptions(baseMessage(.request, now: now))
        message.setOption(DHCPOptionCode.requestedAddress, offer.address.address.bytes)
        message.setOption(DHCPOptionCode.serverIdentifier, offer.serverIdentifier.bytes)
        return message
    }

    /// INIT-REBOOT REQUEST: the address asked for in option 50; ciaddr zero, no server id.
    private func rebootRequest(now: Double) -> DHCPMessage {
        var message = withRequestOptions(baseMessage(.request, now: now))
        if let lease { message.setOption(DHCPOptionCode.requestedAddress, lease.address.address.bytes) }
        return message
    }

    /// RENEWING/REBINDING REQUEST: ciaddr is our address; no server id or requested address.
    private func renewalRequest(now: Double) -> DHCPMessage {
        var message = withRequestOptions(baseMessage(.request, now: now))
        if let lease { message.clientAddress = lease.address.address }
        message.flags = 0
        return message
    }

    /// RELEASE, unicast to the server from the leased address (ciaddr set, server id option),
    /// as servers such as dnsmasq require to act on it.
    public func release() -> (DHCPMessage, DHCPDestination)? {
        guard let lease else { return nil }
        var message = baseMessage(.release, now: timing.exchangeStart)
        message.flags = 0
        message.transactionID = transactionID &+ 1
        message.clientAddress = lease.address.address
        message.setOption(DHCPOptionCode.serverIdentifier, lease.serverIdentifier.bytes)
        return (message, .unicast(lease.serverIdentifier))
    }

    // MARK: Transitions

    /// INIT -> SELECTING: a DISCOVER now.
    public mutating func start(now: Double) -> [DHCPAction] {
        transactionID = timing.random()
        state = .selecting
        timing.beginExchange(now: now)
        return [.send(discover(now: now), .broadcast)]
    }

    /// Handles one received message; messages for other transactions or clients are ignored.
    public mutating func receive(_ message: DHCPMessage, now: Double) -> [DHCPAction] {
        guard message.op == 2, message.transactionID == transactionID,
            Array(message.clientHardwareAddress.prefix(identity.hardwareAddress.count)) == identity.hardwareAddress
        else { return [] }
        if let clientID = message.option(DHCPOptionCode.clientIdentifier), clientID != identity.clientIdentifier {
            return []
        }
        switch (state, message.messageType) {
        case (.selecting, .offer):
            guard let offer = DHCPLease(ack: message) else { return [] }
            state = .requesting(offer: offer)
            timing.nextMessage(now: now)
            return [.send(request(for: offer, now: now), .broadcast)]
        case (.selecting, .ack) where message.option(DHCPOptionCode.rapidCommit) != nil,
            (.requesting, .ack), (.renewing, .ack), (.rebinding, .ack), (.rebooting, .ack):
            guard let granted = DHCPLease(ack: message) else { return [] }
            lease = granted
            state = .bound
            timing.bind(renewalSeconds: granted.renewalSeconds)
            return [.bound(granted)]
        case (.requesting, .nak), (.renewing, .nak), (.rebinding, .nak), (.rebooting, .nak):
            let hadLease = lease != nil
            lease = nil
            var actions: [DHCPAction] = hadLease ? [.lost(reason: "the server refused the lease (DHCPNAK)")] : []
            actions += start(now: now)
            return actions
        default:
            return []
        }
    }

    /// Timers: retransmissions while selecting or requesting, T1 (renew, unicast), T2
    /// (rebind, broadcast) and expiry (the lease is lost and the client starts over).
    public mutating func tick(now: Double) -> [DHCPAction] {
        guard let deadline = timing.nextDeadline, now >= deadline else { return [] }
        switch state {
        case .idle:
            timing.nextDeadline = nil
            return []
        case .selecting:
            timing.retransmit(now: now)
            return [.send(discover(now: now), .broadcast)]
        case .requesting(let offer):
            if timing.attempt >= 4 { return start(now: now) }
            timing.retransmit(now: now)
            return [.send(request(for: offer, now: now), .broadcast)]
        case .rebooting:
            guard let lease else { return start(now: now) }
            if timing.attempt >= 3 || now >= timing.boundAt + Double(lease.leaseSeconds) {
                // No server answered: go on with the lease's own timers (expiry included).
                state = .bound
                let renewal = timing.boundAt + Double(lease.renewalSeconds)
                timing.nextDeadline = renewal
                return renewal <= now ? tick(now: now) : []
            }
            timing.requestSentAt = now
            timing.retransmit(now: now)
            return [.send(rebootRequest(now: now), .broadcast)]
        case .bound, .renewing, .rebinding:
            guard let lease else { return start(now: now) }
            // RFC 2131 4.4.5: retransmit after half the remaining time, at least 60 s, and
            // never past the next timer; renewal unicast to the server, rebinding broadcast.
            switch timing.stage(now: now, rebindingSeconds: lease.rebindingSeconds, lifetime: lease.leaseSeconds) {
            case .expired:
                self.lease = nil
                return [.lost(reason: "the lease of \(lease.address) expired")] + start(now: now)
            case .rebinding(let expiry):
                if state != .rebinding { newRenewalExchange(now: now) }
                state = .rebinding
                timing.requestSentAt = now
                timing.nextDeadline = min(expiry, now + max(60, (expiry - now) / 2))
                return [.send(renewalRequest(now: now), .broadcast)]
            case .renewing(let t2):
                if state == .bound { newRenewalExchange(now: now) }
                state = .renewing
                timing.requestSentAt = now
                timing.nextDeadline = min(t2, now + max(60, (t2 - now) / 2))
                return [.send(renewalRequest(now: now), .unicast(lease.serverIdentifier))]
            }
        }
    }

    /// RENEWING or REBINDING begins: a new transaction, its elapsed time from now.
    private mutating func newRenewalExchange(now: Double) {
        timing.exchangeStart = now
        transactionID = timing.random()
    }
}
