import Addressing
import CNI
import DHCP
import Netlink
import POSIX

/// One attachment's DHCPv4 lease as the daemon keeps it.
final class Lease4Record: @unchecked Sendable {
    let request: DaemonRequest
    var client: DHCPClient
    var boundAtWall: Double
    /// The interface's MTU before the server's (option 26) was applied: put back on DEL.
    var originalMTU: UInt32?

    init(request: DaemonRequest, client: DHCPClient, boundAtWall: Double, originalMTU: UInt32? = nil) {
        self.request = request
        self.client = client
        self.boundAtWall = boundAtWall
        self.originalMTU = originalMTU
    }

    /// The MAC the lease was asked with: the chaddr every later message repeats.
    var hardwareAddress: [UInt8] { client.identity.hardwareAddress }
}

extension Lease4Record: HeldLease {
    static var family: LeaseFamily { .ipv4 }
    static var table: ReferenceWritableKeyPath<LeaseManager, [ExactKey: Lease4Record]> { \.records4 }

    var fileLease: LeaseFile.Lease? {
        guard let lease = client.lease, let mac = MACAddress(bytes: hardwareAddress) else { return nil }
        return .ipv4(lease, mac: mac, broadcast: client.identity.broadcast, originalMTU: originalMTU)
    }

    static func channel(
        in namespace: any LeaseNamespace, interface: String
    ) throws -> DHCPChannel<DHCPMessage, (DHCPMessage, DHCPDestination)> {
        try namespace.channel4(interface: interface)
    }

    /// The link up, then the packet socket; replies are asked to be broadcast when the daemon
    /// is told so (-broadcast), and where a unicast reply cannot reach this interface: ipvlan
    /// slaves share the master's MAC, and the master gets frames for an address no slave has
    /// yet. A link without a MAC is the wrong environment for DHCPv4.
    static func prepare(
        _ request: DaemonRequest, link: Link, netlink: any NetlinkSession, in namespace: any LeaseNamespace,
        manager: LeaseManager
    ) throws -> (client: DHCPClient, channel: DHCPChannel<DHCPMessage, (DHCPMessage, DHCPDestination)>) {
        guard let mac = link.address else {
            throw CNIError(
                code: .invalidEnvironment,
                msg: "interface \"\(request.ifName)\" in netns \(request.netns) has no hardware address for DHCP")
        }
        if !link.isUp { try netlink.setLink(index: link.index, up: true) }
        let channel = try channel(in: namespace, interface: request.ifName)
        let broadcast = manager.settings.broadcast || link.kind == "ipvlan" || !channel.receivesUnicast
        let client = DHCPClient(
            identity: identity(for: request, hardwareAddress: mac.bytes, broadcast: broadcast))
        return (client, channel)
    }

    /// Who the client is to the server, built the same way for a first acquire and for a lease
    /// resumed after a restart: the MAC, the client identifier (ours, or the one `provide`d),
    /// the host name, the parameter request list (our defaults and the `request`ed options, or
    /// those alone with `skipDefault`) and the other `provide`d options.
    static func identity(for request: DaemonRequest, hardwareAddress: [UInt8], broadcast: Bool) -> DHCPClientIdentity {
        var parameters = request.parameters.skipDefaultRequests ? [] : DHCPClientIdentity.defaultParameters
        for code in request.parameters.requestOptions where !parameters.contains(code) { parameters.append(code) }
        return DHCPClientIdentity(
            hardwareAddress: hardwareAddress, containerID: request.containerID, network: request.network,
            ifName: request.ifName, hostName: request.parameters.hostName, parameterRequestList: parameters,
            extraOptions: request.parameters.provideOptions.map { (code: $0.0, data: $0.1) }, broadcast: broadcast)
    }

    /// Option 26: the server's MTU for this segment goes on the interface now (the CNI result
    /// has no place for it); one the kernel refuses is logged. The interface's own MTU is
    /// kept, and put back by DEL.
    static func granted(
        _ lease: DHCPLease, to client: DHCPClient, for request: DaemonRequest, link: Link,
        netlink: any NetlinkSession, boundAtWall: Double, manager: LeaseManager
    ) -> Lease4Record {
        var originalMTU: UInt32?
        if let mtu = lease.mtu, UInt32(mtu) != link.mtu {
            do {
                try netlink.setLink(index: link.index, mtu: UInt32(mtu))
                originalMTU = link.mtu
            } catch {
                manager.log("\(request.key): cannot apply the server's MTU \(mtu): \(error)")
            }
        }
        return Lease4Record(request: request, client: client, boundAtWall: boundAtWall, originalMTU: originalMTU)
    }

    /// INIT-REBOOT: the server confirms the lease at once (REQUEST with option 50), so a
    /// restart never costs the address; its renewal timers then start afresh. Replies are
    /// asked for as when the lease was granted (files before that choice: the daemon's
    /// setting).
    static func resuming(_ file: LeaseFile, age: Double, manager: LeaseManager) -> Lease4Record? {
        guard case .ipv4(let lease, let mac, let broadcast, let originalMTU) = file.lease else { return nil }
        let request = file.attachment.request
        let now = manager.host.monotonicSeconds
        var client = DHCPClient(
            identity: identity(
                for: request, hardwareAddress: mac.bytes, broadcast: broadcast ?? manager.settings.broadcast),
            resuming: lease, boundAt: now - age, now: now)
        client.maximumRetransmit = manager.settings.resendMaximum
        client.confirmAfterRestart(now: now)
        return Lease4Record(request: request, client: client, boundAtWall: file.boundAt, originalMTU: originalMTU)
    }

    /// The RELEASE goes out from the leased address: put on for it when no plugin has put it
    /// there; then the interface's own MTU goes back where the server's was applied.
    func release(
        in namespace: any LeaseNamespace, addressNotConfigured: Bool, manager: LeaseManager, _ send: () -> Void
    ) {
        if addressNotConfigured, let lease = manager.monitor.locked({ client.lease }) {
            manager.withTransientAddress(lease.address, on: request.ifName, in: namespace, send)
        } else {
            send()
        }
        restoreMTU(in: namespace, manager: manager)
    }

    /// RTM_SETLINK with the MTU the interface had before the lease (nothing when the server
    /// set none, or the interface is gone: ENODEV is no error here).
    private func restoreMTU(in namespace: any LeaseNamespace, manager: LeaseManager) {
        guard let mtu = originalMTU else { return }
        let who = LeaseManager.describe(request)
        do {
            let netlink = try namespace.netlink()
            guard let link = try netlink.link(named: request.ifName) else { return }
            if link.mtu != mtu { try netlink.setLink(index: link.index, mtu: mtu) }
            manager.log("restored MTU \(mtu) on \(who)")
        } catch {
            manager.log("cannot restore MTU \(mtu) on \(who): \(error)")
        }
    }
}
