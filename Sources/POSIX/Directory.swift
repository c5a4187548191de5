#if canImport(Glibc)
    import Glibc
#endif

/// Reading directories.
public enum Directory {
    /// The names of the entries of the directory open at `fd` (the descriptor is duplicated,
    /// so the caller's stays open and positioned), without "." and "..".
    public static func entryNames(of fd: FileDescriptor, path: String) throws(SystemError) -> [String] {
        let copy = dup(fd.rawValue)
        guard copy >= 0, let stream = fdopendir(copy) else {
            let error = SystemError.last("read directory", path)
            if copy >= 0 { close(copy) }
            throw error
        }
        defer { closedir(stream) }
        rewinddir(stream)
        return names(stream)
    }

    /// The names of the entries of the directory at `path`; empty when it cannot be opened.
    public static func entryNames(atPath path: String) -> [String] {
        guard let stream = opendir(path) else { return [] }
        defer { closedir(stream) }
        return names(stream)
    }

    private static func names(_ stream: OpaquePointer) -> [String] {
        var result: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { result.append(name) }
        }
        return result
    }

    /// Opens a directory by name relative to `directoryFD` without following a symlink
    /// (O_DIRECTORY | O_NOFOLLOW): a symlink answers ELOOP, a file ENOTDIR. With
    /// `followingSymlink` a final symlink to a directory is followed (the descriptor is then
    /// the directory it names).
    public static func open(
        _ name: String, in directoryFD: Int32 = AT_FDCWD, displayPath: String? = nil, followingSymlink: Bool = false
    ) throws(SystemError) -> FileDescriptor {
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followingSymlink ? 0 : O_NOFOLLOW)
        return try FileDescriptor(checking: openat(directoryFD, name, flags), "open directory", displayPath ?? name)
    }

    /// `mkdir -p` with `mode` for the directories it creates; EEXIST for a directory is fine.
    /// Fails with ENOTDIR when something other than a directory is in the way, and with
    /// ELOOP when the last component is a symlink, unless `followingSymlink` (then a symlink
    /// to a directory is taken, as Go's os.MkdirAll takes it; a dangling one is ENOENT).
    /// An existing directory costs one lstat(2).
    public static func create(_ path: String, mode: mode_t = 0o755, followingSymlink: Bool = false)
        throws(SystemError)
    {
        var existing = stat()
        if lstat(path, &existing) == 0 && existing.st_mode & S_IFMT == S_IFDIR { return }
        if followingSymlink && existing.st_mode & S_IFMT == S_IFLNK {
            guard stat(path, &existing) == 0 else { throw SystemError.last("follow the symlink", path) }
            guard existing.st_mode & S_IFMT == S_IFDIR else {
                throw SystemError(operation: "use", path: path, errno: ENOTDIR)
            }
            return
        }
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw SystemError.last("create directory", current)
            }
        }
        var info = stat()
        guard lstat(path, &info) == 0 else { throw SystemError.last("stat", path) }
        if info.st_mode & S_IFMT == S_IFLNK {
            throw SystemError(operation: "use", path: path, errno: ELOOP, problem: "is a symlink")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw SystemError(operation: "use", path: path, errno: ENOTDIR) }
    }

    /// A directory only this user may change, for lock files and other private state:
    /// created with mode 0700 when missing; refused (EPERM) when it is a symlink, is not a
    /// directory, belongs to another user, or can be written by group or others.
    public static func createPrivate(_ path: String) throws(SystemError) {
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw SystemError.last("create directory", path) }
        var info = stat()
        guard lstat(path, &info) == 0 else { throw SystemError.last("stat", path) }
        let problem: String? =
            if info.st_mode & S_IFMT == S_IFLNK {
                "is a symlink; refusing to use it"
            } else if info.st_mode & S_IFMT != S_IFDIR { "is not a directory" } else if info.st_uid != geteuid() {
                "belongs to uid \(info.st_uid), not to uid \(geteuid()); refusing to use it"
            } else if info.st_mode & 0o022 != 0 {
                "can be written by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); refusing to use it"
            } else { nil }
        if let problem { throw SystemError(operation: "use", path: path, errno: EPERM, problem: problem) }
    }
}
