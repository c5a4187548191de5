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
    /// The clocks, namespaces, state files and log (LeaseHost.swift).
    let host: any LeaseHost
    let monitor = Monitor()
    /// By `DaemonRequest.key`, byte for byte (see `ExactKey`).
    var records: [ExactKey: LeaseRecord] = [:]
    /// DHCPv6 leases, by the same key (IPv6Leases.swift).
    var records6: [ExactKey: Lease6Record] = [:]

    init(settings: DaemonSettings, host: any LeaseHost = SystemLeaseHost()) {
        self.settings = settings
        self.host = host
    }

    /// A line of the daemon's log, through the host.
    func log(_ text: String) { host.log(text) }

    /// Says which DNS values a server sent that are not domain names (they are not in the
    /// lease, its result or any other log line).
    func logRefused(_ values: [String], server: String, _ request: DaemonRequest) {
        guard !values.isEmpty else { return }
        log(
            "server \(server) sent DNS values for \(Self.describe(request)) that are not domain names, dropped: "
                + values.joined(separator: ", "))
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
        let namespace = try host.openNamespace(netnsPath(request))
        let netlink = try namespace.netlink()
        guard let link = try netlink.link(named: request.ifName), let mac = link.address else {
            throw CNIError(
                code: .invalidEnvironment, msg: "interface \"\(request.ifName)\" not found in netns \(request.netns)")
        }
        if !link.isUp { try netlink.setLink(index: link.index, up: true) }
        let channel = try namespace.channel4(interface: request.ifName)
        // Broadcast replies when the daemon is told so (-broadcast), and where a unicast reply
        // cannot reach this interface: ipvlan slaves share the master's MAC, and the master
        // gets frames for an address no slave has yet.
        let broadcast = settings.broadcast || link.kind == "ipvlan" || !channel.receivesUnicast
        var client = DHCPClient(identity: Self.identity(request, hardwareAddress: mac.bytes, broadcast: broadcast))
        client.maximumRetransmit = settings.resendMaximum
        let timeout = min(request.timeout ?? settings.acquireTimeout, settings.acquireTimeout)
        var exchange = DHCPExchange<DHCPClient>(channel: channel, clock: clock, sendFailuresAreErrors: true)
        let first = DHCPClient.steps(client.start(now: host.monotonicSeconds))
        if let lease = try exchange.run(&client, first: first, until: host.monotonicSeconds + timeout) {
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
                boundAtWall: host.wallSeconds - (host.monotonicSeconds - client.boundAt), originalMTU: originalMTU)
            monitor.locked {
                records[ExactKey(request.key)] = record
                monitor.signal()
            }
            persist(record)
            log(
                "acquired \(lease.address) for \(Self.describe(request)) from server \(lease.serverIdentifier), \(lease.leaseSeconds) s"
            )
            logRefused(lease.refusedValues, server: lease.serverIdentifier.description, request)
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
        host.removeState(stateFile(key, .ipv4))
        // One open of the container's namespace for both (nil: it is gone, nothing to tell or undo).
        let namespace = try? host.openNamespace(netnsPath(record.request))
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
    private func restoreMTU(_ record: LeaseRecord, in namespace: any LeaseNamespace) {
        guard let mtu = record.originalMTU else { return }
        do {
            let netlink = try namespace.netlink()
            guard let link = try netlink.link(named: record.request.ifName) else { return }
            if link.mtu != mtu { try netlink.setLink(index: link.index, mtu: mtu) }
            log("restored MTU \(mtu) on \(Self.describe(record.request))")
        } catch {
            log("cannot restore MTU \(mtu) on \(Self.describe(record.request)): \(error)")
        }
    }

    private func sendRelease(_ record: LeaseRecord, in namespace: (any LeaseNamespace)?) {
        let client = monitor.locked { record.client }
        let address = client.lease.map { "\($0.address)" } ?? "no address"
        guard let (message, destination) = client.release(), let namespace,
            let channel = try? namespace.channel4(interface: record.request.ifName)
        else {
            log(
                "released \(address) of \(Self.describe(record.request)) without telling the server (netns or interface gone)"
            )
            return
        }
        do {
            try channel.send((message, destination))
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

    /// Releases the leases of `network` whose attachment is not in `valid`.
    func collectGarbage(network: String, valid: Set<Attachment>) {
        func isStale(_ request: DaemonRequest) -> Bool {
            ExactName.equal(request.network, network)
                && !valid.contains(Attachment(containerID: request.containerID, ifName: request.ifName))
        }
        let stale = monitor.locked {
            heldLeases.filter { isStale($0.request) }.map { ($0.request.key, type(of: $0).family) }
        }
        for (key, family) in stale {
            switch family {
            case .ipv4: release(key)
            case .ipv6: release6(key)
            }
        }
    }
}
