import CNI
import Firewall
import System
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive flock per attachment (network, container, interface), held by a main plugin
/// for its whole ADD and DEL: /run/swift-cni/attachments/<network tag>-<attachment tag>.lock.
///
/// The lock's descriptor is inherited by every child the plugin starts (an exec'd IPAM plugin,
/// `nft`, `iptables-restore`), so when a runtime kills an ADD half-way, its DEL waits until
/// the orphaned children are gone too and then removes what they made: a child that finished
/// after the DEL would otherwise leave a reservation or a firewall table behind. ADDs and DELs
/// of different attachments never wait for each other.
enum AttachmentLock {
    static let directory = BridgeLock.directory + "/attachments"

    static func path(_ request: CNIRequest) -> String {
        let env = request.environment
        let tag = AttachmentTag(network: request.config.name, containerID: env.containerID, ifName: env.ifName)
        return "\(directory)/\(tag.network)-\(tag.attachment).lock"
    }

    /// Runs an ADD holding the attachment's lock.
    static func holding<T>(_ request: CNIRequest, _ body: () throws -> T) throws -> T {
        try lock(request).withLock(body)
    }

    /// Runs a DEL holding the attachment's lock, then removes the lock file (still holding it:
    /// the attachment is gone, and with it the need for its lock).
    static func holdingForDelete(_ request: CNIRequest, _ body: () throws -> Void) throws {
        let lock = try lock(request)
        try lock.withLock {
            try body()
            unlink(lock.path)
        }
    }

    private static func lock(_ request: CNIRequest) throws(CNIError) -> FileLock {
        do throws(SystemError) {
            try Directory.createPrivate(BridgeLock.directory)
            try Directory.createPrivate(directory)
            return try FileLock(path(request), mode: 0o600, inheritedByChildren: true)
        } catch {
            throw CNIError(code: .kernelOperationFailed, msg: "cannot use the attachment lock: \(error)")
        }
    }
}
