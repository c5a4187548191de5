#if canImport(Glibc)
    import Glibc
#endif

/// Reading and writing whole files and buffers on file descriptors.
public enum FileIO {
    /// How much a "whole file" read takes at most unless told otherwise: far more than any
    /// file of ours (a reservation, a lease, a config) holds; more is an error, not a cut.
    public static let defaultLimit = 64 << 20

    /// Reads to end of file (EINTR retried). More than `limit` bytes is an error (EFBIG):
    /// a caller that means "the whole file" never works on a part of it.
    public static func readAll(_ fd: FileDescriptor, limit: Int = defaultLimit, path: String = "") throws(SystemError)
        -> [UInt8]
    {
        var data: [UInt8] = []
        // Not zeroed: read(2) writes what it returns, and only that is kept.
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 8)
        defer { chunk.deallocate() }
        while true {
            let count = read(fd.rawValue, chunk.baseAddress, chunk.count)
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError.last("read", path)
            }
            data += UnsafeRawBufferPointer(rebasing: chunk[0..<count])
            if data.count > limit {
                throw SystemError(operation: "read", path: path, errno: EFBIG, problem: "larger than \(limit) bytes")
            }
        }
        return data
    }

    /// Opens `path` read-only and reads it whole (see `readAll`). Symlinks are followed: for
    /// files the user names (configs, resolv.conf). Only a regular file is read: a FIFO, device
    /// or directory is EINVAL, "not a regular file", and is never waited on (the open does not
    /// block, O_NONBLOCK, and nothing is read from it).
    public static func readFile(_ path: String, limit: Int = defaultLimit) throws(SystemError) -> [UInt8] {
        let fd = try FileDescriptor(checking: open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), "open", path)
        defer { fd.closeIgnoringErrors() }
        var info = stat()
        try SystemError.check(fstat(fd.rawValue, &info), "stat", path)
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw SystemError(operation: "open", path: path, errno: EINVAL, problem: "not a regular file")
        }
        return try readAll(fd, limit: limit, path: path)
    }

    /// Opens a file of our own: never through a symlink (O_NOFOLLOW: ELOOP), never blocking on
    /// a FIFO or device planted under the name (O_NONBLOCK, which does nothing to a regular
    /// file's reads, writes or flock, so it is left set), and only when it is
    /// a regular file (anything else: EINVAL, "not a regular file"). `flags` adds the access
    /// mode and O_CREAT/O_TRUNC as needed.
    /// The descriptor is closed on exec unless `inheritedByChildren`.
    public static func openRegularFile(
        _ name: String, in directoryFD: Int32 = AT_FDCWD, flags: Int32,
        mode: mode_t = 0o644, displayPath: String? = nil,
        inheritedByChildren: Bool = false
    ) throws(SystemError) -> FileDescriptor {
        let shown = displayPath ?? name
        // O_TRUNC is applied after the type check, so a planted device is never truncated.
        let fd: FileDescriptor
        switch openOwn(
            name, in: directoryFD, flags: flags & ~O_TRUNC, mode: mode, shown: shown,
            inheritedByChildren: inheritedByChildren)
        {
        case .file(let opened, _): fd = opened
        case .missing(let error), .notRegular(let error), .failed(let error): throw error
        }
        if flags & O_TRUNC != 0 {
            try fd.closeOnError { (fd) throws(SystemError) in
                try SystemError.check(ftruncate(fd.rawValue, 0), "truncate", shown)
            }
        }
        return fd
    }

    /// What opening a file of our own found.
    private enum Opened {
        /// A regular file: its descriptor (the caller's to close) and fstat(2).
        case file(FileDescriptor, stat)
        /// ENOENT.
        case missing(SystemError)
        /// A symlink (ELOOP), directory, FIFO, socket or device: "not a regular file".
        case notRegular(SystemError)
        case failed(SystemError)
    }

    /// The open and type check every function here that opens a file of our own shares.
    private static func openOwn(
        _ name: String, in directoryFD: Int32, flags: Int32, mode: mode_t, shown: String,
        inheritedByChildren: Bool
    ) -> Opened {
        let fd: FileDescriptor
        do throws(SystemError) {
            fd = try FileDescriptor(
                checking: openat(
                    directoryFD, name, flags | O_NOFOLLOW | O_NONBLOCK | (inheritedByChildren ? 0 : O_CLOEXEC), mode),
                "open", shown)
        } catch {
            switch error.errno {
            case ENOENT: return .missing(error)
            case ELOOP: return .notRegular(error)
            default: return .failed(error)
            }
        }
        var info = stat()
        guard fstat(fd.rawValue, &info) == 0 else {
            let error = SystemError.last("stat", shown)
            fd.closeIgnoringErrors()
            return .failed(error)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            fd.closeIgnoringErrors()
            return .notRegular(
                SystemError(operation: "open", path: shown, errno: EINVAL, problem: "not a regular file"))
        }
        return .file(fd, info)
    }

    /// Reads a regular file of our own whole: never through a symlink, never blocking on a FIFO
    /// or device (see `openRegularFile`, whose errors it throws), in four system calls (openat,
    /// fstat, one read sized by the file plus one byte, close) when the file does not grow
    /// meanwhile. A regular file's short read is its end (Linux, local filesystems). More than
    /// `limit`: EFBIG.
    public static func readRegularFile(
        _ name: String, in directoryFD: Int32 = AT_FDCWD, limit: Int = defaultLimit,
        displayPath: String? = nil
    ) throws(SystemError) -> [UInt8] {
        let shown = displayPath ?? name
        switch openOwn(name, in: directoryFD, flags: O_RDONLY, mode: 0, shown: shown, inheritedByChildren: false) {
        case .file(let fd, let info):
            defer { fd.closeIgnoringErrors() }
            return try readOpened(fd, size: info.st_size, limit: limit, shown: shown)
        case .missing(let error), .notRegular(let error), .failed(let error):
            throw error
        }
    }

    /// What reading a file of our own found.
    public enum RegularFileRead {
        case contents([UInt8])
        /// Nothing under the name (ENOENT).
        case missing
        /// A symlink, directory, FIFO, socket or device under the name: never followed or read.
        case notRegular
        case failed(SystemError)
    }

    /// `readRegularFile` for a directory walk: tells a missing entry and a non-file apart from
    /// a failure without a separate stat of each name.
    public static func readRegularFileIfPresent(
        _ name: String, in directoryFD: Int32 = AT_FDCWD, limit: Int = defaultLimit,
        displayPath: String? = nil
    ) -> RegularFileRead {
        let shown = displayPath ?? name
        switch openOwn(name, in: directoryFD, flags: O_RDONLY, mode: 0, shown: shown, inheritedByChildren: false) {
        case .file(let fd, let info):
            defer { fd.closeIgnoringErrors() }
            do throws(SystemError) {
                return .contents(try readOpened(fd, size: info.st_size, limit: limit, shown: shown))
            } catch {
                return .failed(error)
            }
        case .missing: return .missing
        case .notRegular: return .notRegular
        case .failed(let error): return .failed(error)
        }
    }

    /// Reads an open regular file of `size` bytes (by fstat) whole: one read of size + 1 bytes,
    /// and on to the end only when it was interrupted or the file grew.
    private static func readOpened(_ fd: FileDescriptor, size fileSize: off_t, limit: Int, shown: String)
        throws(SystemError)
        -> [UInt8]
    {
        let tooLarge = SystemError(operation: "read", path: shown, errno: EFBIG, problem: "larger than \(limit) bytes")
        let size = Int(clamping: fileSize)
        guard size <= limit else { throw tooLarge }
        var data = [UInt8](repeating: 0, count: size + 1)
        let count = data.withUnsafeMutableBytes { read(fd.rawValue, $0.baseAddress, $0.count) }
        if count >= 0 && count <= size {
            data.removeSubrange(count...)
            return data
        }
        if count < 0 && errno != EINTR { throw SystemError.last("read", shown) }
        let whole = (count > 0 ? Array(data[0..<count]) : []) + (try readAll(fd, limit: limit, path: shown))
        guard whole.count <= limit else { throw tooLarge }
        return whole
    }

    /// Writes every byte, retrying short writes and EINTR. false on any other error (errno set).
    @discardableResult
    public static func writeAll(_ fd: FileDescriptor, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return 0 }
                return write(fd.rawValue, base + offset, raw.count - offset)
            }
            if count < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += count
        }
        return true
    }

    @discardableResult
    public static func writeAll(_ fd: FileDescriptor, _ text: String) -> Bool { writeAll(fd, Array(text.utf8)) }

    /// `writeAll` that throws the write's errno as a `SystemError` naming `path`.
    public static func writeAll(_ bytes: [UInt8], to fd: FileDescriptor, path: String) throws(SystemError) {
        if !writeAll(fd, bytes) { throw SystemError.last("write", path) }
    }
}
