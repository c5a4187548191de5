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

/// The renewal side of the lease manager: one thread sleeps until the earliest timer of any
/// lease, DHCPv4 or DHCPv6, and serves what is due; address and route changes a renewal
/// brings are made here, every failure logged with the attachment.
extension LeaseManager {
    /// Runs forever: sleeps until the earliest lease timer, then serves what is due.
    func renewalLoop() -> Never {
        while true {
            monitor.locked {
                let deadline = heldLeases.compactMap(\.nextDeadline).min()
                if deadline.map({ $0 > host.monotonicSeconds }) ?? true { monitor.wait(until: deadline) }
            }
            serviceDue()
        }
    }

    /// One turn of the renewal loop: renews, rebinds or re-acquires every lease whose timer is
    /// due now; a lease whose namespace or interface is gone is dropped.
    func serviceDue() {
        let now = host.monotonicSeconds
        for record in monitor.locked({ due(Lease4Record.self, now) }) { service(record) }
        for record in monitor.locked({ due(Lease6Record.self, now) }) { service(record) }
    }

    /// The family's records whose timer is due at `now` (under the lock).
    private func due<Record: HeldLease>(_: Record.Type, _ now: Double) -> [Record] {
        self[keyPath: Record.table].values.filter { ($0.nextDeadline ?? .infinity) <= now }
    }

    /// The host's monotonic clock, for exchanges.
    var clock: () -> Double { { [host] in host.monotonicSeconds } }

    private func drop<Record: HeldLease>(_ record: Record, because reason: String) {
        log("\(reason): dropping the \(Record.family.leaseName) of \(record.request.key)")
        _ = forget(record.request.key, Record.self)
    }

    /// Runs the exchange the client's due timer starts (RENEW/REQUEST, REBIND, after a restart
    /// INIT-REBOOT or CONFIRM) and applies its outcome: a lost lease's address comes off the
    /// interface at once; a granted one is kept on disk, and a different address (or one back
    /// after a loss) goes on, the old one off, with the routes the lease brings.
    private func service<Record: HeldLease>(_ record: Record) {
        let request = record.request
        let who = Self.describe(request)
        guard let namespace = try? host.openNamespace(netnsPath(request)) else {
            return drop(record, because: "netns \(request.netns) is gone")
        }
        guard let channel = try? Record.channel(in: namespace, interface: request.ifName) else {
            return drop(record, because: "interface \(request.ifName) in \(request.netns) is gone")
        }
        var client = monitor.locked { record.client }
        var phase = "renewed"
        var removed: Record.Client.Lease?
        var exchange = DHCPExchange<Record.Client>(channel: channel, clock: clock, sendFailuresAreErrors: false)
        exchange.beforeEachRound = { client in
            if client.phase == .rebinding { phase = "rebound" }
            if client.phase == .confirming { phase = "confirmed after the restart" }
        }
        exchange.onLost = { reason in
            self.log("lost the \(Record.family.leaseName) of \(who): \(reason)")
            if removed == nil, let old = self.monitor.locked({ record.client.lease }) {
                self.change(request, in: namespace, adding: nil, removing: old.interfacePrefix)
                removed = old
            }
        }
        let first = client.steps(tickingAt: host.monotonicSeconds)
        let granted = try? exchange.run(&client, first: first, until: host.monotonicSeconds + settings.resendTimeout)
        let previous = monitor.locked { () -> Record.Client.Lease? in
            let previous = record.client.lease
            record.client = client
            if granted != nil { record.boundAtWall = host.wallSeconds - (host.monotonicSeconds - client.boundAt) }
            return previous
        }
        // A DHCPv6 CONFIRM that the server answers with success keeps the lease as it was.
        guard let lease = granted ?? (client.phase == .bound ? client.lease : nil) else { return }
        persist(record)
        if let old = removed ?? previous.flatMap({ $0.addressText != lease.addressText ? $0 : nil }) {
            change(
                request, in: namespace, adding: lease.interfacePrefix,
                removing: old.addressText != lease.addressText ? old.interfacePrefix : nil,
                routes: lease.renewalRoutes, addressFlags: Record.Client.Lease.addressFlags)
        }
        log("\(phase) \(lease.addressText) for \(who) \(lease.grantText)")
    }

    /// RTM_NEWADDR of `adding` (EEXIST: already there), RTM_DELADDR of `removing` (ENODEV,
    /// EADDRNOTAVAIL: already gone) and RTM_NEWROUTE of `routes` (EEXIST: there) on the
    /// attachment's interface. Every other failure is logged with the attachment.
    func change(
        _ request: DaemonRequest, in namespace: any LeaseNamespace, adding: IPPrefix?, removing: IPPrefix?,
        routes: [DHCPRoute] = [], addressFlags: UInt32 = 0
    ) {
        let who = Self.describe(request)
        let netlink: any NetlinkSession
        let link: Link
        do {
            netlink = try namespace.netlink()
            guard let found = try netlink.link(named: request.ifName) else {
                return log("error: \(request.ifName) is gone: cannot change its addresses for \(who)")
            }
            link = found
        } catch {
            return log("error: cannot reach \(request.ifName) for \(who): \(error)")
        }
        if let adding {
            do throws(NetlinkError) {
                try netlink.addAddress(
                    InterfaceAddress(interfaceIndex: link.index, prefix: adding, flags: addressFlags))
            } catch {
                if error.errno != EEXIST { log("error: adding \(adding) for \(who): \(error)") }
            }
        }
        if let removing {
            do throws(NetlinkError) {
                try netlink.deleteAddress(InterfaceAddress(interfaceIndex: link.index, prefix: removing))
            } catch {
                if !error.isNotFound && error.errno != EADDRNOTAVAIL {
                    log("error: removing \(removing) for \(who): \(error)")
                }
            }
        }
        for route in routes {
            let entry = Route(
                destination: route.destination, gateway: route.router.v4Value == 0 ? nil : route.router,
                outputInterfaceIndex: link.index, priority: request.parameters.priority)
            do throws(NetlinkError) {
                try netlink.addRoute(entry)
            } catch {
                if error.errno != EEXIST { log("error: adding the route to \(route.destination) for \(who): \(error)") }
            }
        }
    }
}
