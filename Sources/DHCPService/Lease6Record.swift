import DHCP

/// One attachment's DHCPv6 lease as the daemon keeps it (beside its DHCPv4 `LeaseRecord`).
final class Lease6Record: @unchecked Sendable {
    let request: DaemonRequest
    var client: DHCPv6Client
    /// The wall-clock time the lease was granted, kept on disk so a restart resumes it.
    var boundAtWall: Double

    init(request: DaemonRequest, client: DHCPv6Client, boundAtWall: Double) {
        self.request = request
        self.client = client
        self.boundAtWall = boundAtWall
    }
}
