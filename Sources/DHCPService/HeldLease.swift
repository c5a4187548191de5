import Addressing
import DHCP
import Netlink
import POSIX

/// One attachment's lease of one family as the lease manager holds it (`Lease4Record`,
/// `Lease6Record`): the steps alike for both families — acquire, renew, release, keep on
/// disk, list, collect — are the manager's, written once; what differs is here. Every
/// stored member is read and written under the manager's lock.
protocol HeldLease: AnyObject {
    associatedtype Client: LeaseClient
    static var family: LeaseFamily { get }
    /// The manager's table of the family's records, by `DaemonRequest.key`.
    static var table: ReferenceWritableKeyPath<LeaseManager, [ExactKey: Self]> { get }
    var request: DaemonRequest { get }
    var client: Client { get set }
    /// The wall-clock time the lease was granted, kept on disk so a restart resumes it.
    var boundAtWall: Double { get set }
    /// The lease as its file keeps it; nil while none is bound.
    var fileLease: LeaseFile.Lease? { get }

    /// The family's socket on the attachment's interface.
    static func channel(
        in namespace: any LeaseNamespace, interface: String
    ) throws -> DHCPChannel<Client.Incoming, Client.Outgoing>

    /// Readies `link` for a first lease and makes the client that asks for it, with the
    /// socket it asks through.
    static func prepare(
        _ request: DaemonRequest, link: Link, netlink: any NetlinkSession, in namespace: any LeaseNamespace,
        manager: LeaseManager
    ) throws -> (client: Client, channel: DHCPChannel<Client.Incoming, Client.Outgoing>)

    /// The record of a lease just granted, after what the family applies at once (DHCPv4:
    /// the server's MTU).
    static func granted(
        _ lease: Client.Lease, to client: Client, for request: DaemonRequest, link: Link,
        netlink: any NetlinkSession, boundAtWall: Double, manager: LeaseManager
    ) -> Self

    /// The record of the lease `file` keeps, resumed `age` seconds after it was granted, its
    /// client set to confirm it with the server; nil when the file holds the other family's.
    static func resuming(_ file: LeaseFile, age: Double, manager: LeaseManager) -> Self?

    /// Runs `send` (the RELEASE) the family's way, in the attachment's namespace, and undoes
    /// what the lease changed on the interface. `addressNotConfigured`: no plugin put the
    /// leased address on the interface (the other family of a dual-stack ADD failed).
    func release(
        in namespace: any LeaseNamespace, addressNotConfigured: Bool, manager: LeaseManager, _ send: () -> Void)
}

extension HeldLease {
    var family: LeaseFamily { Self.family }

    /// What `dhcp leases` shows of the lease; nil while none is bound.
    var listed: (address: String, server: String, phase: LeasePhase, lifetime: UInt32)? {
        guard let lease = client.lease else { return nil }
        return (lease.addressText, lease.serverText, client.phase, lease.lifetime)
    }

    /// When the client's next timer is due (monotonic seconds); nil when it waits for nothing.
    var nextDeadline: Double? { client.nextDeadline }

    /// Nothing to undo by default: the RELEASE alone.
    func release(
        in namespace: any LeaseNamespace, addressNotConfigured: Bool, manager: LeaseManager, _ send: () -> Void
    ) { send() }
}
