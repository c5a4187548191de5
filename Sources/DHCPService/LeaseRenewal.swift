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
        let (due, due6) = monitor.locked {
            (
                records.values.filter { ($0.client.nextDeadline ?? .infinity) <= now },
                records6.values.filter { ($0.client.nextDeadline ?? .infinity) <= now }
            )
        }
        for record in due { service(record) }
        for record in due6 { service6(record) }
    }

    /// The host's monotonic clock, for exchanges.
    var clock: () -> Double { { [host] in host.monotonicSeconds } }

    private func drop(_ record: LeaseRecord, because reason: String) {
        log("\(reason): dropping the lease of \(record.request.key)")
        monitor.locked { _ = records.removeValue(forKey: ExactKey(record.request.key)) }
        host.removeState(stateFile(record.request.key, .ipv4))
    }

    private func service(_ record: LeaseRecord) {
        let request = record.request
        guard let namespace = try? host.openNamespace(netnsPath(request)) else {
            return drop(record, because: "netns \(request.netns) is gone")
        }
        guard let channel = try? namespace.channel4(interface: request.ifName) else {
            return drop(record, because: "interface \(request.ifName) in \(request.netns) is gone")
        }
        var client = monitor.locked { record.client }
        var phase = "renewed"
        var removed: DHCPLease?
        var exchange = DHCPExchange<DHCPClient>(channel: channel, clock: clock, sendFailuresAreErrors: false)
        exchange.beforeEachRound = { client in
            if client.state == .rebinding { phase = "rebound" }
            if client.state == .rebooting { phase = "confirmed after the restart" }
        }
        exchange.onLost = { reason in
            self.log("lost the lease of \(Self.describe(request)): \(reason)")
            if let old = self.monitor.locked({ record.client.lease }), removed == nil {
                self.change(request, in: namespace, adding: nil, removing: old.address)
                removed = old
            }
        }
        let first = DHCPClient.steps(client.tick(now: host.monotonicSeconds))
        if let lease = try? exchange.run(&client, first: first, until: host.monotonicSeconds + settings.resendTimeout) {
            let boundAtWall = host.wallSeconds - (host.monotonicSeconds - client.boundAt)
            let previous = monitor.locked { () -> DHCPLease? in
                let previous = record.client.lease
                record.boundAtWall = boundAtWall
                record.client = client
                return previous
            }
            persist(record)
            // A lease that brought a different address (or came back after one was lost): the
            // new address on, the old one off, and the routes via the new router.
            if let old = removed ?? previous.flatMap({ $0.address != lease.address ? $0 : nil }) {
                change(
                    request, in: namespace, adding: lease.address,
                    removing: old.address != lease.address ? old.address : nil, routes: lease.routes)
            }
            log(
                "\(phase) \(lease.address) for \(Self.describe(request)) from server \(lease.serverIdentifier), \(lease.leaseSeconds) s"
            )
            return
        }
        monitor.locked { record.client = client }
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
                outputInterfaceIndex: link.index, priority: request.priority)
            do throws(NetlinkError) {
                try netlink.addRoute(entry)
            } catch {
                if error.errno != EEXIST { log("error: adding the route to \(route.destination) for \(who): \(error)") }
            }
        }
    }
}
