import CNI
import Firewall

/// An exclusive flock per attachment (network, container, interface), held by a main plugin
/// for its whole ADD and DEL: /run/swift-cni/attachments/<network tag>-<attachment tag>.lock.
///
/// The lock's descriptor is inherited by every child the plugin starts (an exec'd IPAM plugin,
/// `nft`, `iptables-restore`), so when a runtime kills an ADD half-way, its DEL waits until
/// the orphaned children are gone too and then removes what they made: a child that finished
/// after the DEL would otherwise leave a reservation or a firewall table behind. ADDs and DELs
/// of different attachments never wait for each other.
enum AttachmentLock {
    static let subdirectory = "attachments"

    static func name(_ request: CNIRequest) -> String {
        let env = request.environment
        let tag = AttachmentTag(network: request.config.name, containerID: env.containerID, ifName: env.ifName)
        return "\(tag.network)-\(tag.attachment).lock"
    }

    /// Runs `body` holding the attachment's lock; with `removeAfterwards` (a DEL) the lock file
    /// is removed once `body` has succeeded, still held: the attachment is gone, and with it
    /// the need for its lock.
    static func holding<T>(_ request: CNIRequest, removeAfterwards: Bool, _ body: () throws -> T) throws -> T {
        try RuntimeLock.holding(
            name(request), in: subdirectory, what: "attachment lock", inheritedByChildren: true,
            removeAfterwards: removeAfterwards, body)
    }
}
