import Namespaces
import Netlink
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

extension NftablesSession {
    /// The session of the calling thread's network namespace, opened once per process and
    /// namespace and never closed before the process exits.
    ///
    /// Closing an nfnetlink socket waits until the kernel has released what the socket's
    /// earlier commits deleted or updated (an RCU grace period, about 10 ms on a CI kernel:
    /// nft_rcv_nl_event flushes the destroy work). One socket per operation made a bridge DEL
    /// wait that long once for the masquerade and once for the spoof check, one after the
    /// other, before it even deleted the link; kept open, those releases run while the link is
    /// deleted and are done by the time the process exits.
    ///
    /// Keyed by the namespace's inode, so a thread that switched namespaces never writes to
    /// another namespace's tables. Plugins are synchronous; the table is guarded anyway.
    public static func shared() throws(NetlinkError) -> NftablesSession {
        let key: UInt64
        do {
            key = try NetworkNamespace.current().identity.inode
        } catch {
            // /proc/thread-self/ns/net unreadable: no /proc (an empty chroot).
            throw NetlinkError(operation: "identify the network namespace (\(error))", errno: ENOENT)
        }
        return try SharedSessions.table.session(for: key)
    }
}

/// The open sessions by namespace inode, for the process's lifetime.
private final class SharedSessions: @unchecked Sendable {
    static let table = SharedSessions()
    private let monitor = Monitor()
    private var sessions: [UInt64: NftablesSession] = [:]

    func session(for key: UInt64) throws(NetlinkError) -> NftablesSession {
        try monitor.locked { () throws(NetlinkError) -> NftablesSession in
            if let open = sessions[key] { return open }
            let session = try NftablesSession()
            sessions[key] = session
            return session
        }
    }
}
