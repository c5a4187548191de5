import Addressing
import CNI
import DHCP
import JSON
import Namespaces
import Netlink
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// DHCPv6 (RFC 8415) beside DHCPv4: one IA_NA per attachment, its address as /128 (DHCPv6
/// gives no prefix length: the on-link prefix and the default route come from the router's
/// advertisements, which the container's kernel takes itself).
extension LeaseManager {
    static func identity6(_ request: DaemonRequest) -> DHCPv6ClientIdentity {
        DHCPv6ClientIdentity(containerID: request.containerID, network: request.network, ifName: request.ifName)
    }

    /// Readies the container's interface for DHCPv6 before it comes up: IPv6 on
    /// (`disable_ipv6=0`), optimistic duplicate address detection (`optimistic_dad=1`,
    /// `use_optimistic=1`: the link-local address is usable as a source at once, while DAD
    /// still runs and still catches a duplicate) and router advertisements taken
    /// (`accept_ra=1`). Then the link goes up. A link that is already up keeps its tentative
    /// link-local address: `acquire6` waits for DAD to finish on it.
    func prepareForIPv6(_ request: DaemonRequest, _ namespace: any LeaseNamespace) throws {
        try namespace.writeIPv6Settings(
            interface: request.ifName,
            [("disable_ipv6", "0"), ("optimistic_dad", "1"), ("use_optimistic", "1"), ("accept_ra", "1")])
        let netlink = try namespace.netlink()
        if let link = try netlink.link(named: request.ifName), !link.isUp {
            try netlink.setLink(index: link.index, up: true)
        }
    }

    /// Waits (at most 3 s) until the interface has a link-local address that can be a source:
    /// not tentative, or optimistic. RTM_GETADDR dumps, 20 ms apart.
    private func waitForLinkLocal(_ netlink: any NetlinkSession, _ link: Link) throws {
        let deadline = host.monotonicSeconds + 3
        while true {
            let usable = try netlink.addresses(interfaceIndex: link.index, family: .v6).contains {
                $0.prefix.address.bytes.prefix(2) == [0xfe, 0x80] && $0.isUsableSource
            }
            if usable { return }
            if host.monotonicSeconds >= deadline {
                throw CNIError(
                    code: .tryAgainLater,
                    msg:
                        "\(link.name) has no usable IPv6 link-local address to ask DHCPv6 from (IPv6 disabled, or DAD failed)"
                )
            }
            host.pause(0.02)
        }
    }

    /// SOLICIT (Rapid Commit) .. REPLY on the interface inside the container, at most
    /// `timeout` seconds, and keeps the lease; with it, the default router the kernel has
    /// taken from an advertisement by then (read with the same netlink session).
    func acquire6(_ request: DaemonRequest) throws -> (lease: DHCPv6Lease, router: IPAddress?) {
        if let lease = monitor.locked({ records6[ExactKey(request.key)]?.client.lease }) {
            return (lease, openInterface(request).flatMap { router6($0.netlink, $0.link) })
        }
        let namespace = try host.openNamespace(netnsPath(request))
        let netlink = try namespace.netlink()
        guard let link = try netlink.link(named: request.ifName) else {
            throw CNIError(
                code: .invalidEnvironment, msg: "interface \"\(request.ifName)\" not found in netns \(request.netns)")
        }
        try waitForLinkLocal(netlink, link)
        let channel = try namespace.channel6(interface: request.ifName, index: link.index)
        var client = DHCPv6Client(identity: Self.identity6(request))
        client.maximumRetransmit = settings.resendMaximum
        let timeout = min(request.timeout ?? settings.acquireTimeout, settings.acquireTimeout)
        var exchange = DHCPExchange<DHCPv6Client>(channel: channel, clock: clock, sendFailuresAreErrors: true)
        let first = DHCPv6Client.steps(client.start(now: host.monotonicSeconds))
        if let lease = try exchange.run(&client, first: first, until: host.monotonicSeconds + timeout) {
            let record = Lease6Record(
                request: request, client: client,
                boundAtWall: host.wallSeconds - (host.monotonicSeconds - client.boundAt))
            monitor.locked {
                records6[ExactKey(request.key)] = record
                monitor.signal()
            }
            persist(record)
            log("acquired \(lease.address) for \(Self.describe(request)) by DHCPv6, valid \(lease.validLifetime) s")
            logRefused(lease.refusedValues, server: LeaseCoding.hex(lease.serverIdentifier), request)
            return (lease, router6(netlink, link))
        }
        let text = "sent \(exchange.sent) messages, \(exchange.heardText)"
        log("error: no DHCPv6 lease for \(Self.describe(request)) within \(formatSeconds(timeout)): \(text)")
        throw CNIError(
            code: .tryAgainLater,
            msg:
                "no DHCPv6 lease for \(request.ifName) in netns \(request.netns) within \(formatSeconds(timeout)): \(text)"
        )
    }

    /// The default router the kernel took from an advertisement on the interface (the gateway
    /// of its IPv6 default route, RTM_GETROUTE), if it has one yet.
    func router6(_ netlink: any NetlinkSession, _ link: Link) -> IPAddress? {
        let routes = try? netlink.routes(family: .v6, table: nil, outputInterfaceIndex: link.index)
        return routes?.first { $0.isDefault && $0.gateway != nil }?.gateway
    }

    /// The attachment's namespace, a netlink session in it and its interface; nil when the
    /// namespace or the interface is gone.
    func openInterface(_ request: DaemonRequest) -> (
        namespace: any LeaseNamespace, netlink: any NetlinkSession, link: Link
    )? {
        guard let namespace = try? host.openNamespace(netnsPath(request)),
            let netlink = try? namespace.netlink(), let link = try? netlink.link(named: request.ifName)
        else { return nil }
        return (namespace, netlink, link)
    }

    /// Forgets the DHCPv6 lease and sends RELEASE (when the namespace and interface are still
    /// there). An unknown attachment is fine.
    func release6(_ key: String) {
        guard let record = monitor.locked({ records6.removeValue(forKey: ExactKey(key)) }) else { return }
        host.removeState(stateFile(key, .ipv6))
        let client = monitor.locked { record.client }
        let address = client.lease.map { "\($0.address)" } ?? "no address"
        guard let message = client.release(), let (namespace, _, link) = openInterface(record.request),
            let channel = try? namespace.channel6(interface: record.request.ifName, index: link.index)
        else {
            log(
                "released \(address) of \(Self.describe(record.request)) without telling the server (netns or interface gone)"
            )
            return
        }
        do {
            try channel.send(message)
            log("released \(address) of \(Self.describe(record.request)) by DHCPv6")
        } catch {
            log("error: DHCPv6 RELEASE of \(address) for \(Self.describe(record.request)): \(error)")
        }
    }

    /// Renewal of one DHCPv6 lease whose timer is due (RENEW, REBIND, or after a restart
    /// CONFIRM); a lease whose namespace or interface is gone is dropped.
    func service6(_ record: Lease6Record) {
        let key = record.request.key
        guard let (namespace, _, link) = openInterface(record.request),
            let channel = try? namespace.channel6(interface: record.request.ifName, index: link.index)
        else {
            log("netns \(record.request.netns) or its interface is gone: dropping the DHCPv6 lease of \(key)")
            monitor.locked { _ = records6.removeValue(forKey: ExactKey(key)) }
            host.removeState(stateFile(key, .ipv6))
            return
        }
        var client = monitor.locked { record.client }
        let phase = client.state == .confirming ? "confirmed after the restart" : "renewed"
        var exchange = DHCPExchange<DHCPv6Client>(channel: channel, clock: clock, sendFailuresAreErrors: false)
        exchange.onLost = { reason in
            self.log("lost the DHCPv6 lease of \(Self.describe(record.request)): \(reason)")
            if let old = self.monitor.locked({ record.client.lease }) {
                self.change(record.request, in: namespace, adding: nil, removing: Self.host128(old.address))
            }
        }
        let first = DHCPv6Client.steps(client.tick(now: host.monotonicSeconds))
        let granted = try? exchange.run(&client, first: first, until: host.monotonicSeconds + settings.resendTimeout)
        let previous = monitor.locked { () -> DHCPv6Lease? in
            let previous = record.client.lease
            record.client = client
            if granted != nil { record.boundAtWall = host.wallSeconds - (host.monotonicSeconds - client.boundAt) }
            return previous
        }
        guard let lease = granted ?? (client.state == .bound ? client.lease : nil) else { return }
        persist(record)
        // A different address (or one back after a loss): on as /128 without DAD (the server
        // vouches for it), the old one off.
        if previous?.address != lease.address {
            change(
                record.request, in: namespace, adding: Self.host128(lease.address),
                removing: previous.flatMap { Self.host128($0.address) },
                addressFlags: InterfaceAddress.noDuplicateAddressDetection)
        }
        log("\(phase) \(lease.address) for \(Self.describe(record.request)) by DHCPv6, valid \(lease.validLifetime) s")
    }

    static func host128(_ address: IPAddress) -> IPPrefix? { IPPrefix(address: address, prefixLength: 128) }
}
