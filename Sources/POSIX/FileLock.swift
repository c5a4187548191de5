#if canImport(Glibc)
    import Glibc
#endif

/// An exclusive flock(2) on a lock file, held around a body of work. The file is opened
/// without following a symlink (O_NOFOLLOW) and must be a regular file, so nothing planted
/// under its name is ever written or locked instead. flock works on a read-only descriptor:
/// the lock of a store on a read-only filesystem can still be taken by readers.
public final class FileLock {
    public let path: String
    private let fd: FileDescriptor

    /// Opens (creating with `mode` when missing) `name` relative to `directoryFD` (or a path,
    /// with AT_FDCWD). A read-only filesystem where the file exists is fine; one where it does
    /// not answers EROFS.
    ///
    /// With `inheritedByChildren` the descriptor stays open across exec, so every child the
    /// holder starts holds the lock too (flock belongs to the open file description): when the
    /// holder is killed, the lock is free only once its last child is gone.
    public init(
        _ name: String, in directoryFD: Int32 = AT_FDCWD, displayPath: String? = nil, mode: mode_t = 0o644,
        inheritedByChildren: Bool = false
    ) throws(SystemError) {
        path = displayPath ?? name
        fd = try FileIO.openRegularFile(
            name, in: directoryFD, flags: O_RDONLY | O_CREAT, mode: mode, displayPath: path,
            inheritedByChildren: inheritedByChildren)
    }

    deinit { fd.closeIgnoringErrors() }

    /// Runs `body` holding LOCK_EX (blocking; EINTR retried) and unlocks afterwards, also when
    /// `body` throws. A lock that cannot be taken throws `lockFailure` of the flock(2) error;
    /// what `body` throws passes unchanged, so callers never mistake one for the other.
    public func withLock<T, Failure: Error>(
        orThrow lockFailure: (SystemError) -> Failure,
        _ body: () throws(Failure) -> T
    ) throws(Failure) -> T {
        while flock(fd.rawValue, LOCK_EX) != 0 {
            if errno != EINTR { throw lockFailure(SystemError.last("lock", path)) }
        }
        defer { flock(fd.rawValue, LOCK_UN) }
        return try body()
    }

    /// The file this lock holds is still the one named by its path: not removed, not
    /// replaced (same device and inode as `lstat` of the path).
    public var isStillNamedByItsPath: Bool {
        var held = stat()
        var named = stat()
        guard fstat(fd.rawValue, &held) == 0, lstat(path, &named) == 0 else { return false }
        return held.st_dev == named.st_dev && held.st_ino == named.st_ino
    }

    /// Runs `body` holding LOCK_EX on the file at `path` (created with `mode` when missing),
    /// for locks whose holders may remove the file afterwards (`removeAfterwards`: removed,
    /// still held, once `body` has succeeded). A waiter whose file was removed or replaced while
    /// it waited takes the lock again on the file the path names now, so two processes never
    /// both hold "the" lock of one name on two different files. Failures to open or lock throw
    /// `lockFailure`; what `body` throws passes unchanged.
    public static func holding<T, Failure: Error>(
        path: String, mode: mode_t = 0o600, inheritedByChildren: Bool = false, removeAfterwards: Bool = false,
        orThrow lockFailure: (SystemError) -> Failure, _ body: () throws(Failure) -> T
    ) throws(Failure) -> T {
        while true {
            let lock: FileLock
            do throws(SystemError) {
                lock = try FileLock(path, mode: mode, inheritedByChildren: inheritedByChildren)
            } catch {
                throw lockFailure(error)
            }
            let outcome = try lock.withLock(orThrow: lockFailure) { () throws(Failure) -> T? in
                guard lock.isStillNamedByItsPath else { return nil }
                let value = try body()
                if removeAfterwards { unlink(path) }
                return value
            }
            // nil: the file we waited on is gone; lock the one the path names now.
            if let outcome { return outcome }
        }
    }
}
