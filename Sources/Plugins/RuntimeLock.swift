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
    /// `removeAfterwards` the file is removed, still held, once `body` has succeeded.
    static func holding<T>(
        _ name: String, in subdirectory: String? = nil, what: String, inheritedByChildren: Bool = false,
        removeAfterwards: Bool = false, _ body: () throws -> T
    ) throws -> T {
        let failure = { (error: SystemError) -> any Error in
            CNIError(code: .kernelOperationFailed, msg: "cannot use the \(what): \(error)")
        }
        let lock: FileLock
        do throws(SystemError) {
            try Directory.createPrivate(directory)
            var parent = directory
            if let subdirectory {
                parent += "/" + subdirectory
                try Directory.createPrivate(parent)
            }
            lock = try FileLock(parent + "/" + name, mode: 0o600, inheritedByChildren: inheritedByChildren)
        } catch {
            throw failure(error)
        }
        return try lock.withLock(orThrow: failure) {
            let value = try body()
            if removeAfterwards { unlink(lock.path) }
            return value
        }
    }
}
