import Addressing
import CNI
import CSystem
import DHCP
import JSON
import KernelErrors
import Namespaces
import Netlink
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// Acquires, renews, persists and releases leases. Thread-safe: each plugin request runs on
/// its own thread (entering the container's netns on that thread only), renewals on one more.
final class LeaseManager: @unchecked Sendable {
    let settings: DaemonSettings
    let monitor = Monitor()
    /// By `DaemonRequest.key`, byte for byte (see `ExactKey`).
    var records: [ExactKey: LeaseRecord] = [:]
    /// DHCPv6 leases, by the same key (IPv6Leases.swift).
    var records6: [ExactKey: Lease6Record] = [:]

    init(settings: DaemonSettings) {
        self.settings = settings
    }

    func netnsPath(_ request: DaemonRequest) -> String { settings.hostPrefix + request.netns }

    // MARK: ADD

    /// Runs DISCOVER/OFFER/REQUEST/ACK on the interface inside the container, at most
    /// `timeout` seconds, and keeps the lease. The link is brought up first. Errors name the
    /// interface and what was heard.
    func acquire(_ request: DaemonRequest) throws -> DHCPLease {
        if let lease = monitor.locked({ records[ExactKey(request.key)]?.client.lease }) {
            return lease
        }
        let namespace = try NetworkNamespace(path: netnsPath(request))
        let netlink = try RouteNetlink(in: namespace)
        guard let link = try netlink.link(named: request.ifName), let mac = link.address else {
            throw CNIError(
                code: .invalidEnvironment, msg: "interface \"\(request.ifName)\" not found in netns \(request.netns)")
        }
        if !link.isUp { try netlink.setLink(index: link.index, up: true) }
        let transport = try DHCPTransport(interface: request.ifName, in: namespace)
        // Broadcast replies when the daemon is told so (-broadcast), and where a unicast reply
        // cannot reach this interface: ipvlan slaves share the master's MAC, and the master
        // gets frames for an address no slave has yet.
        let broadcast = settings.broadcast || link.kind == "ipvlan" || !transport.receivesUnicast
        var client = DHCPClient(identity: Self.identity(request, hardwareAddress: mac.bytes, broadcast: broadcast))
        client.maximumRetransmit = settings.resendMaximum
        let timeout = min(request.timeout ?? settings.acquireTimeout, settings.acquireTimeout)
        var exchange = DHCPExchange<DHCPClient, DHCPTransport>(transport: transport, sendFailuresAreErrors: true)
        let first = DHCPClient.steps(client.start(now: MonotonicClock.seconds))
        if let lease = try exchange.run(&client, first: first, until: MonotonicClock.seconds + timeout) {
            // Option 26: the server's MTU for this segment goes on the interface now (the CNI
            // result has no place for it); one the kernel refuses is reported. The interface's
            // own MTU is kept, and put back by DEL.
            var originalMTU: UInt32?
            if let mtu = lease.mtu, UInt32(mtu) != link.mtu {
                do {
                    try netlink.setLink(index: link.index, mtu: UInt32(mtu))
                    originalMTU = link.mtu
                } catch {
                    log("\(request.key): cannot apply the server's MTU \(mtu): \(error)")
                }
            }
            let record = LeaseRecord(
                request: request, hardwareAddress: mac.bytes, client: client,
                boundAtWall: WallClock.seconds - (MonotonicClock.seconds - client.boundAt), originalMTU: originalMTU)
            monitor.locked {
                records[ExactKey(request.key)] = record
                monitor.signal()
            }
            persist(record)
            log(
                "acquired \(lease.address) for \(Self.describe(request)) from server \(lease.serverIdentifier), \(lease.leaseSeconds) s"
            )
            return lease
        }
        let sent = exchange.sent
        let heardText = exchange.heardText
        log(
            "error: no lease for \(Self.describe(request)) within \(formatSeconds(timeout)): sent \(sent) messages, \(heardText)"
        )
        throw CNIError(
            code: .tryAgainLater,
            msg:
                "no DHCP lease for \(request.ifName) in netns \(request.netns) within \(formatSeconds(timeout)): sent \(sent) messages, \(heardText)"
        )
    }

    /// Who the client is to the server, built the same way for a first acquire and for a lease
    /// resumed after a restart: the MAC, the client identifier (ours, or the one `provide`d),
    /// the host name, the parameter request list (our defaults and the `request`ed options, or
    /// those alone with `skipDefault`) and the other `provide`d options.
    static func identity(_ request: DaemonRequest, hardwareAddress: [UInt8], broadcast: Bool) -> DHCPClientIdentity {
        var parameters = request.skipDefaultRequests ? [] : DHCPClientIdentity.defaultParameters
        for code in request.requestOptions where !parameters.contains(code) { parameters.append(code) }
        return DHCPClientIdentity(
            hardwareAddress: hardwareAddress, containerID: request.containerID, network: request.network,
            ifName: request.ifName, hostName: request.hostName, parameterRequestList: parameters,
            extraOptions: request.provideOptions.map { (code: $0.0, data: $0.1) }, broadcast: broadcast)
    }

    // MARK: DEL, CHECK, GC

    /// Forgets the lease, sends RELEASE from the leased address (when the namespace and the
    /// address are still there) and puts back the interface's own MTU where the server's was
    /// applied. An unknown attachment is fine. `addressNotConfigured`: the lease is undone
    /// before any plugin put its address on the interface (the other family of a dual-stack
    /// ADD failed): the address is there for the RELEASE only, so the server hears it from
    /// the address it is about.
    func release(_ key: String, addressNotConfigured: Bool = false) {
        guard let record = monitor.locked({ records.removeValue(forKey: ExactKey(key)) }) else { return }
        unlink(stateFile(key))
        // One open of the container's namespace for both (nil: it is gone, nothing to tell or undo).
        let namespace = try? NetworkNamespace(path: netnsPath(record.request))
        if addressNotConfigured, let namespace, let lease = monitor.locked({ record.client.lease }) {
            withTransientAddress(lease.address, on: record.request.ifName, in: namespace) {
                sendRelease(record, in: namespace)
            }
        } else {
            sendRelease(record, in: namespace)
        }
        if let namespace { restoreMTU(record, in: namespace) }
    }

    /// RTM_SETLINK with the MTU the interface had before the lease (nothing when the server
    /// set none, or the interface is gone: ENODEV is no error here).
    private func restoreMTU(_ record: LeaseRecord, in namespace: NetworkNamespace) {
        guard let mtu = record.originalMTU else { return }
        do {
            let netlink = try RouteNetlink(in: namespace)
            guard let link = try netlink.link(named: record.request.ifName) else { return }
            if link.mtu != mtu { try netlink.setLink(index: link.index, mtu: mtu) }
            log("restored MTU \(mtu) on \(Self.describe(record.request))")
        } catch {
            log("cannot restore MTU \(mtu) on \(Self.describe(record.request)): \(error)")
        }
    }

    private func sendRelease(_ record: LeaseRecord, in namespace: NetworkNamespace?) {
        let client = monitor.locked { record.client }
        let address = client.lease.map { "\($0.address)" } ?? "no address"
        guard let (message, destination) = client.release(), let namespace,
            let transport = try? DHCPTransport(interface: record.request.ifName, in: namespace)
        else {
            log(
                "released \(address) of \(Self.describe(record.request)) without telling the server (netns or interface gone)"
            )
            return
        }
        do {
            try transport.send(message, to: destination)
            log(
                "released \(address) of \(Self.describe(record.request)) to server \(client.lease.map { "\($0.serverIdentifier)" } ?? "\(destination)")"
            )
        } catch {
            log("error: RELEASE of \(address) for \(Self.describe(record.request)): \(error)")
        }
    }

    /// "container C, network N, interface I": who a log line is about.
    static func describe(_ request: DaemonRequest) -> String {
        "container \(request.containerID), network \(request.network), interface \(request.ifName)"
    }

    /// The lease of an attachment, when it holds one.
    func lease(_ key: String) -> DHCPLease? { monitor.locked { records[ExactKey(key)]?.client.lease } }

    /// What `dhcp leases` shows: one object per lease held (container, network, interface,
    /// family, address, server, state, expires), sorted by container and interface.
    func listing() -> [JSONValue] {
        let held = monitor.locked { Array(records.values) }
        return
            (held.compactMap { record -> (String, JSONValue)? in
                guard let lease = record.client.lease else { return nil }
                let state: String =
                    switch record.client.state {
                    case .bound: "bound"
                    case .renewing: "renewing"
                    case .rebinding: "rebinding"
                    case .rebooting: "confirming"
                    default: "acquiring"
                    }
                let request = record.request
                let entry: JSONValue = [
                    "container": .string(request.containerID), "network": .string(request.network),
                    "interface": .string(request.ifName), "family": "IPv4",
                    "address": .string(lease.address.description),
                    "server": .string(lease.serverIdentifier.description), "state": .string(state),
                    "expires": .string(timestamp(record.boundAtWall + Double(lease.leaseSeconds))),
                ]
                return (request.containerID + "/" + request.ifName + "/4", entry)
            } + listing6()).sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Releases the leases of `network` whose attachment is not in `valid`.
    func collectGarbage(network: String, valid: Set<Attachment>) {
        func isStale(_ request: DaemonRequest) -> Bool {
            ExactName.equal(request.network, network)
                && !valid.contains(Attachment(containerID: request.containerID, ifName: request.ifName))
        }
        let (stale, stale6) = monitor.locked {
            (
                records.values.map(\.request).filter(isStale).map(\.key),
                records6.values.map(\.request).filter(isStale).map(\.key)
            )
        }
        for key in stale { release(key) }
        for key in stale6 { release6(key) }
    }

    // MARK: Renewal

    /// Runs forever: sleeps until the earliest lease timer, then renews, rebinds or re-acquires;
    /// a lease whose namespace is gone is dropped.
    func renewalLoop() -> Never {
        while true {
            let (due, due6) = monitor.locked { () -> ([LeaseRecord], [Lease6Record]) in
                let deadline =
                    (records.values.compactMap(\.client.nextDeadline)
                    + records6.values.compactMap(\.client.nextDeadline)).min()
                if deadline.map({ $0 > MonotonicClock.seconds }) ?? true { monitor.wait(until: deadline) }
                let now = MonotonicClock.seconds
                return (
                    records.values.filter { ($0.client.nextDeadline ?? .infinity) <= now },
                    records6.values.filter { ($0.client.nextDeadline ?? .infinity) <= now }
                )
            }
            for record in due { service(record) }
            for record in due6 { service6(record) }
        }
    }

    private func service(_ record: LeaseRecord) {
        guard let namespace = try? NetworkNamespace(path: netnsPath(record.request)) else {
            log("netns \(record.request.netns) is gone: dropping the lease of \(record.request.key)")
            monitor.locked { _ = records.removeValue(forKey: ExactKey(record.request.key)) }
            unlink(stateFile(record.request.key))
            return
        }
        guard let transport = try? DHCPTransport(interface: record.request.ifName, in: namespace) else {
            log(
                "interface \(record.request.ifName) in \(record.request.netns) is gone: dropping the lease of \(record.request.key)"
            )
            monitor.locked { _ = records.removeValue(forKey: ExactKey(record.request.key)) }
            unlink(stateFile(record.request.key))
            return
        }
        var client = monitor.locked { record.client }
        var phase = "renewed"
        var removed: DHCPLease?
        var exchange = DHCPExchange<DHCPClient, DHCPTransport>(transport: transport, sendFailuresAreErrors: false)
        exchange.beforeEachRound = { client in
            if client.state == .rebinding { phase = "rebound" }
            if client.state == .rebooting { phase = "confirmed after the restart" }
        }
        exchange.onLost = { reason in
            log("lost the lease of \(Self.describe(record.request)): \(reason)")
            if let old = self.monitor.locked({ record.client.lease }), removed == nil {
                self.remove(old, record, namespace)
                removed = old
            }
        }
        let first = DHCPClient.steps(client.tick(now: MonotonicClock.seconds))
        if let lease = try? exchange.run(&client, first: first, until: MonotonicClock.seconds + settings.resendTimeout)
        {
            let boundAtWall = WallClock.seconds - (MonotonicClock.seconds - client.boundAt)
            let previous = monitor.locked { () -> DHCPLease? in
                let previous = record.client.lease
                record.boundAtWall = boundAtWall
                record.client = client
                return previous
            }
            persist(record)
            if let gone = removed {
                apply(lease, replacing: gone, record, namespace)
            } else if let previous, previous.address != lease.address {
                apply(lease, replacing: previous, record, namespace)
            }
            log(
                "\(phase) \(lease.address) for \(Self.describe(record.request)) from server \(lease.serverIdentifier), \(lease.leaseSeconds) s"
            )
            return
        }
        monitor.locked { record.client = client }
    }

    /// A lease that brought a different address (or came back after one was lost): the new
    /// address goes on the interface, the old one off (when it differs), and the default
    /// route via the new router.
    private func apply(
        _ lease: DHCPLease, replacing old: DHCPLease, _ record: LeaseRecord, _ namespace: NetworkNamespace
    ) {
        guard let netlink = try? RouteNetlink(in: namespace), let link = try? netlink.link(named: record.request.ifName)
        else { return }
        try? netlink.addAddress(InterfaceAddress(interfaceIndex: link.index, prefix: lease.address))
        if old.address != lease.address {
            try? netlink.deleteAddress(InterfaceAddress(interfaceIndex: link.index, prefix: old.address))
        }
        for route in lease.routes {
            try? netlink.addRoute(
                Route(
                    destination: route.destination, gateway: route.router.v4Value == 0 ? nil : route.router,
                    outputInterfaceIndex: link.index, priority: record.request.priority))
        }
    }

    private func remove(_ lease: DHCPLease, _ record: LeaseRecord, _ namespace: NetworkNamespace) {
        guard let netlink = try? RouteNetlink(in: namespace), let link = try? netlink.link(named: record.request.ifName)
        else { return }
        try? netlink.deleteAddress(InterfaceAddress(interfaceIndex: link.index, prefix: lease.address))
    }
}
