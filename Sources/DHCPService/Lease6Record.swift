import Addressing
import CNI
import DHCP
import Netlink
import POSIX

/// One attachment's DHCPv6 lease as the daemon keeps it: one IA_NA, its address as /128.
final class Lease6Record: @unchecked Sendable {
    let request: DaemonRequest
    var client: DHCPv6Client
    var boundAtWall: Double

    init(request: DaemonRequest, client: DHCPv6Client, boundAtWall: Double) {
        self.request = request
        self.client = client
        self.boundAtWall = boundAtWall
    }
}

extension Lease6Record: HeldLease {
    static var family: LeaseFamily { .ipv6 }
    static var table: ReferenceWritableKeyPath<LeaseManager, [ExactKey: Lease6Record]> { \.records6 }

    var fileLease: LeaseFile.Lease? { client.lease.map { .ipv6($0) } }

    /// A UDP socket bound to the interface's link-local address (RTM_GETLINK for its index).
    static func channel(
        in namespace: any LeaseNamespace, interface: String
    ) throws -> DHCPChannel<DHCPv6Message, DHCPv6Message> {
        guard let link = try namespace.netlink().link(named: interface) else {
            throw CNIError(code: .invalidEnvironment, msg: "interface \"\(interface)\" is gone")
        }
        return try namespace.channel6(interface: interface, index: link.index)
    }

    /// The interface was readied before it came up (`LeaseManager.prepareForIPv6`); the
    /// client waits for a link-local address it can send from.
    static func prepare(
        _ request: DaemonRequest, link: Link, netlink: any NetlinkSession, in namespace: any LeaseNamespace,
        manager: LeaseManager
    ) throws -> (client: DHCPv6Client, channel: DHCPChannel<DHCPv6Message, DHCPv6Message>) {
        try manager.waitForLinkLocal(netlink, link)
        let channel = try namespace.channel6(interface: request.ifName, index: link.index)
        return (DHCPv6Client(identity: identity(for: request)), channel)
    }

    /// CONFIRM at the next turn of the renewal loop: the address is kept unless the server
    /// says it is not on this link.
    static func resuming(_ file: LeaseFile, age: Double, manager: LeaseManager) -> Lease6Record? {
        guard case .ipv6(let lease) = file.lease else { return nil }
        let request = file.attachment.request
        let now = manager.host.monotonicSeconds
        var client = DHCPv6Client(identity: identity(for: request), resuming: lease, boundAt: now - age)
        client.maximumRetransmit = manager.settings.resendMaximum
        client.prepareToConfirm(now: now)
        return Lease6Record(request: request, client: client, boundAtWall: file.boundAt)
    }

    /// Who the client is to the server: a DUID and IAID of the attachment's own, the same for
    /// a first acquire and for a lease resumed after a restart.
    static func identity(for request: DaemonRequest) -> DHCPv6ClientIdentity {
        DHCPv6ClientIdentity(containerID: request.containerID, network: request.network, ifName: request.ifName)
    }

    static func granted(
        _ lease: DHCPv6Lease, to client: DHCPv6Client, for request: DaemonRequest, link: Link,
        netlink: any NetlinkSession, boundAtWall: Double, manager: LeaseManager
    ) -> Lease6Record {
        Lease6Record(request: request, client: client, boundAtWall: boundAtWall)
    }
}
