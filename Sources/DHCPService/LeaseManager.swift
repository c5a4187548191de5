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
    /// DHCPv4 leases by `DaemonRequest.key`, byte for byte (see `ExactKey`).
    var records4: [ExactKey: Lease4Record] = [:]
    /// DHCPv6 leases, by the same key.
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

    /// Runs the family's exchange (DISCOVER/OFFER/REQUEST/ACK, or SOLICIT with Rapid Commit
    /// .. REPLY) on the interface inside the container, at most `timeout` seconds, and keeps
    /// the lease. A lease already held for the attachment is returned as it is. Errors name
    /// the interface and what was heard.
    func acquire<Record: HeldLease>(_ request: DaemonRequest, _: Record.Type) throws -> Record.Client.Lease {
        if let lease = lease(request.key, Record.self) { return lease }
        let namespace = try host.openNamespace(netnsPath(request))
        let netlink = try namespace.netlink()
        guard let link = try netlink.link(named: request.ifName) else {
            throw CNIError(
                code: .invalidEnvironment, msg: "interface \"\(request.ifName)\" not found in netns \(request.netns)")
        }
        var (client, channel) = try Record.prepare(
            request, link: link, netlink: netlink, in: namespace, manager: self)
        client.maximumRetransmit = settings.resendMaximum
        let timeout = min(request.parameters.timeout ?? settings.acquireTimeout, settings.acquireTimeout)
        var exchange = DHCPExchange<Record.Client>(channel: channel, clock: clock, sendFailuresAreErrors: true)
        let first = client.steps(startingAt: host.monotonicSeconds)
        if let lease = try exchange.run(&client, first: first, until: host.monotonicSeconds + timeout) {
            let record = Record.granted(
                lease, to: client, for: request, link: link, netlink: netlink,
                boundAtWall: host.wallSeconds - (host.monotonicSeconds - client.boundAt), manager: self)
            monitor.locked {
                self[keyPath: Record.table][ExactKey(request.key)] = record
                monitor.signal()
            }
            persist(record)
            log("acquired \(lease.addressText) for \(Self.describe(request)) \(lease.grantText)")
            logRefused(lease.refusedValues, server: lease.serverText, request)
            return lease
        }
        let what = "no \(Record.family.protocolName) lease"
        let heard = "sent \(exchange.sent) messages, \(exchange.heardText)"
        log("error: \(what) for \(Self.describe(request)) within \(formatSeconds(timeout)): \(heard)")
        throw CNIError(
            code: .tryAgainLater,
            msg: "\(what) for \(request.ifName) in netns \(request.netns) within \(formatSeconds(timeout)): \(heard)")
    }

    // MARK: DEL, CHECK, GC

    /// Forgets the attachment's lease of the family and its file (nil: none is held).
    func forget<Record: HeldLease>(_ key: String, _: Record.Type) -> Record? {
        guard let record = monitor.locked({ self[keyPath: Record.table].removeValue(forKey: ExactKey(key)) }) else {
            return nil
        }
        host.removeState(stateFile(key, Record.family))
        return record
    }

    /// Forgets the lease, sends RELEASE from the leased address (when the namespace and the
    /// interface are still there) and undoes what the lease changed on the interface (DHCPv4:
    /// the server's MTU). An unknown attachment is fine. `addressNotConfigured`: the lease is
    /// undone before any plugin put its address on the interface (the other family of a
    /// dual-stack ADD failed): DHCPv4 puts the address there for the RELEASE only, so the
    /// server hears it from the address it is about.
    func release<Record: HeldLease>(_ key: String, _: Record.Type, addressNotConfigured: Bool = false) {
        guard let record = forget(key, Record.self) else { return }
        let request = record.request
        let client = monitor.locked { record.client }
        let who = Self.describe(request)
        let address = client.lease?.addressText ?? "no address"
        // One open of the container's namespace for all of it (nil: gone, nothing to tell or undo).
        guard let namespace = try? host.openNamespace(netnsPath(request)) else {
            return log("released \(address) of \(who) without telling the server (netns gone)")
        }
        record.release(in: namespace, addressNotConfigured: addressNotConfigured, manager: self) {
            guard let message = client.release() else {
                return log("forgot the attachment \(who): no lease was bound")
            }
            guard let channel = try? Record.channel(in: namespace, interface: request.ifName) else {
                return log("released \(address) of \(who) without telling the server (interface gone)")
            }
            do {
                try channel.send(message)
                log("released \(address) of \(who) to server \(client.lease?.serverText ?? "unknown")")
            } catch {
                log("error: \(Record.family.protocolName) RELEASE of \(address) for \(who): \(error)")
            }
        }
    }

    /// Releases the attachment's leases of `families`.
    func release(_ key: String, _ families: [LeaseFamily] = LeaseFamily.allCases, addressNotConfigured: Bool = false) {
        for family in families {
            switch family {
            case .ipv4: release(key, Lease4Record.self, addressNotConfigured: addressNotConfigured)
            case .ipv6: release(key, Lease6Record.self, addressNotConfigured: addressNotConfigured)
            }
        }
    }

    /// "container C, network N, interface I": who a log line is about.
    static func describe(_ request: DaemonRequest) -> String {
        "container \(request.containerID), network \(request.network), interface \(request.ifName)"
    }

    /// The attachment's lease of the family, when it holds one.
    func lease<Record: HeldLease>(_ key: String, _: Record.Type) -> Record.Client.Lease? {
        monitor.locked { self[keyPath: Record.table][ExactKey(key)]?.client.lease }
    }

    /// Releases the leases of `network` whose attachment is not in `valid`.
    func collectGarbage(network: String, valid: Set<Attachment>) {
        func isStale(_ request: DaemonRequest) -> Bool {
            ExactName.equal(request.network, network)
                && !valid.contains(Attachment(containerID: request.containerID, ifName: request.ifName))
        }
        let stale = monitor.locked { heldLeases.filter { isStale($0.request) }.map { ($0.request.key, $0.family) } }
        for (key, family) in stale { release(key, [family]) }
    }
}
