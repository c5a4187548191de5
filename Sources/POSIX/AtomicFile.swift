#if canImport(Glibc)
    import Glibc
#endif

/// Replacing a file's whole content so that a reader sees the old or the new content, never
/// a part: the content goes to `<name>.tmp` in the same directory, created exclusively
/// (O_CREAT | O_EXCL | O_NOFOLLOW: a symlink or file planted under that name is removed, never
/// followed), and is then renamed over `name`. The caller serializes writers of one name
/// (the temporary name is fixed, so a killed writer's leftover is known and removed).
public enum AtomicFile {
    /// The temporary name used while `name` is replaced.
    public static func temporaryName(for name: String) -> String { name + ".tmp" }

    /// Writes `content` to `name` (relative to `directoryFD`, or a path with AT_FDCWD) with
    /// `mode`. With `sync`, the data reaches the disk before the rename (fsync).
    public static func replace(
        _ name: String, in directoryFD: Int32 = AT_FDCWD, with content: [UInt8],
        mode: mode_t = 0o644, sync: Bool = false, displayPath: String? = nil
    ) throws(SystemError) {
        let temporary = temporaryName(for: name)
        let shown = (displayPath ?? name) + ".tmp"
        if unlinkat(directoryFD, temporary, 0) != 0 && errno != ENOENT {
            throw SystemError.last("remove", shown)
        }
        let fd = try FileDescriptor(
            checking: openat(directoryFD, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode),
            "create", shown)
        var failure: SystemError?
        do throws(SystemError) {
            try fd.closeAfter { (fd) throws(SystemError) in
                try FileIO.writeAll(content, to: fd, path: shown)
                if sync { try SystemError.check(fsync(fd.rawValue), "fsync", shown) }
            }
        } catch {
            failure = error
        }
        if failure == nil && renameat(directoryFD, temporary, directoryFD, name) != 0 {
            failure = SystemError.last("rename", shown)
        }
        if let failure {
            unlinkat(directoryFD, temporary, 0)
            throw failure
        }
    }
}
