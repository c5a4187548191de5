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

/// One attachment's lease as the daemon keeps it.
final class LeaseRecord: @unchecked Sendable {
    let request: DaemonRequest
    let hardwareAddress: [UInt8]
    var client: DHCPClient
    /// The wall-clock time the lease was granted, kept on disk so a restart resumes it.
    var boundAtWall: Double
    /// The interface's MTU before the server's (option 26) was applied: put back on DEL.
    var originalMTU: UInt32?

    init(
        request: DaemonRequest, hardwareAddress: [UInt8], client: DHCPClient, boundAtWall: Double,
        originalMTU: UInt32? = nil
    ) {
        self.request = request
        self.hardwareAddress = hardwareAddress
        self.client = client
        self.boundAtWall = boundAtWall
        self.originalMTU = originalMTU
    }
}
