import CNI
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// Our lock files under /run/swift-cni: a directory only root may change (0700, root's own, not
/// a symlink: see `Directory.createPrivate`), files opened without following symlinks, so
/// nothing planted there is written or locked. The bridge's locks and the attachments' locks
/// (`BridgeLock`, `AttachmentLock`) are both taken here.
enum RuntimeLock {
    static let directory = "/run/swift-cni"

    /// Runs `body` holding an exclusive flock on `name`, in `directory` or its `subdirectory`.
    /// A lock that cannot be made or taken is code 100 naming `what`; what `body` throws passes
    /// unchanged. With `inheritedByChildren` every child the process starts holds it too; with
    /// `removeAfterwards` the file is removed, still held, once `body` has succeeded (a waiter
    /// on the removed file then locks the new one: see `FileLock.holding`).
    static func holding<T>(
        _ name: String, in subdirectory: String? = nil, what: String, inheritedByChildren: Bool = false,
        removeAfterwards: Bool = false, _ body: () throws -> T
    ) throws -> T {
        let failure = { (error: SystemError) -> any Error in
            CNIError(code: .kernelOperationFailed, msg: "cannot use the \(what): \(error)")
        }
        var parent = directory
        do throws(SystemError) {
            try Directory.createPrivate(directory)
            if let subdirectory {
                parent += "/" + subdirectory
                try Directory.createPrivate(parent)
            }
        } catch {
            throw failure(error)
        }
        return try FileLock.holding(
            path: parent + "/" + name, inheritedByChildren: inheritedByChildren, removeAfterwards: removeAfterwards,
            orThrow: failure, body)
    }
}
