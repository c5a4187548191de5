import Addressing
import DHCP

/// What the lease manager does alike with a DHCPv4 lease (`LeaseRecord`) and a DHCPv6 one
/// (`Lease6Record`): keep it on disk, list it, time its renewal, collect it. Every member is
/// read under the manager's lock.
protocol HeldLease: AnyObject {
    static var family: LeaseFamily { get }
    var request: DaemonRequest { get }
    /// The wall-clock time the lease was granted, kept on disk so a restart resumes it.
    var boundAtWall: Double { get }
    /// The lease as its file keeps it; nil while none is bound.
    var fileLease: LeaseFile.Lease? { get }
    /// What `dhcp leases` shows of the family's lease; nil while none is bound.
    var listed: (address: String, server: String, phase: LeasePhase, lifetime: UInt32)? { get }
    /// When the client's next timer is due (monotonic seconds); nil when it waits for nothing.
    var nextDeadline: Double? { get }
}

extension LeaseRecord: HeldLease {
    static var family: LeaseFamily { .ipv4 }

    var fileLease: LeaseFile.Lease? {
        guard let lease = client.lease, let mac = MACAddress(bytes: hardwareAddress) else { return nil }
        return .ipv4(lease, mac: mac, broadcast: client.identity.broadcast, originalMTU: originalMTU)
    }

    var listed: (address: String, server: String, phase: LeasePhase, lifetime: UInt32)? {
        guard let lease = client.lease else { return nil }
        return (lease.address.description, lease.serverIdentifier.description, client.state.phase, lease.leaseSeconds)
    }

    var nextDeadline: Double? { client.nextDeadline }
}

extension Lease6Record: HeldLease {
    static var family: LeaseFamily { .ipv6 }

    var fileLease: LeaseFile.Lease? { client.lease.map { .ipv6($0) } }

    var listed: (address: String, server: String, phase: LeasePhase, lifetime: UInt32)? {
        guard let lease = client.lease else { return nil }
        return (
            lease.address.description, LeaseCoding.hex(lease.serverIdentifier), client.state.phase, lease.validLifetime
        )
    }

    var nextDeadline: Double? { client.nextDeadline }
}
