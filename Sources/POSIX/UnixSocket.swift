import CSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Stream unix sockets: the DHCP plugin-daemon protocol (one JSON object a line each way)
/// and the D-Bus system bus.
public enum UnixSocket {
    private static func address(_ path: String) throws(SystemError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SystemError(operation: "use", path: path, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        return address
    }

    /// The credentials of the process at the other end of a connection (SO_PEERCRED: who
    /// connected, as the kernel saw it then); nil when the kernel does not say.
    public static func peer(_ connection: FileDescriptor) -> (uid: uid_t, gid: gid_t)? {
        var uid: uid_t = 0
        var gid: gid_t = 0
        guard csystem_peer_credentials(connection.rawValue, &uid, &gid) == 0 else { return nil }
        return (uid, gid)
    }

    /// A listening socket bound to `path` with `mode` (the caller removes a stale socket first:
    /// EADDRINUSE). The umask is set for the bind alone, so the socket file is created with at
    /// most `mode` and nobody else can connect while a chmod is pending.
    public static func listen(_ path: String, mode: mode_t = 0o600) throws(SystemError) -> FileDescriptor {
        var address = try address(path)
        let socketFD = try FileDescriptor(
            checking: socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0), "socket for",
            path)
        return try socketFD.closeOnError { (fd) throws(SystemError) -> FileDescriptor in
            let previous = umask(~mode & 0o777)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            umask(previous)
            try SystemError.check(bound, "bind", path)
            try SystemError.check(Glibc.listen(fd.rawValue, 128), "listen on", path)
            return fd
        }
    }

    /// Connects to the daemon's socket within `timeout` seconds (ENOENT/ECONNREFUSED: no
    /// daemon); the descriptor returned is blocking (reads go through `readLine`'s poll).
    public static func connect(_ path: String, timeout: Double) throws(SystemError) -> FileDescriptor {
        var address = try address(path)
        // Non-blocking, so a daemon whose listen backlog is full (EAGAIN) is retried every
        // 10 ms until `timeout` instead of blocking without bound.
        let socketFD = try FileDescriptor(
            checking: socket(
                AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0),
            "socket for", path)
        let deadline = MonotonicClock.seconds + timeout
        return try socketFD.closeOnError { (fd) throws(SystemError) -> FileDescriptor in
            while true {
                let result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.connect(fd.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                    }
                }
                do throws(SystemError) {
                    try SystemError.check(result, "connect to", path)
                    break
                } catch  where (error.errno == EAGAIN || error.errno == EINTR) && MonotonicClock.seconds < deadline {
                    _ = poll(nil, 0, 10)
                }
            }
            let flags = fcntl(fd.rawValue, F_GETFL)
            if flags >= 0 { _ = fcntl(fd.rawValue, F_SETFL, flags & ~O_NONBLOCK) }
            return fd
        }
    }

    /// Reads up to a newline, at most 1 MiB, within `timeout` seconds; nil on timeout or EOF first.
    public static func readLine(_ fd: FileDescriptor, timeout: Double) -> String? {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = MonotonicClock.seconds + timeout
        while data.count < 1 << 20 {
            let remaining = deadline - MonotonicClock.seconds
            if remaining <= 0 { return nil }
            var descriptor = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, pollMilliseconds(remaining))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let count = chunk.withUnsafeMutableBytes { read(fd.rawValue, $0.baseAddress, $0.count) }
            if count <= 0 { return data.isEmpty ? nil : String(decoding: data, as: UTF8.self) }
            data += chunk[0..<count]
            if let newline = data.firstIndex(of: 10) { return String(decoding: data[..<newline], as: UTF8.self) }
        }
        return nil
    }
}

/// A poll(2) timeout in milliseconds for `seconds`: at least 1, and never a conversion that
/// traps (NaN, infinite or huge waits become `longestPollWait`).
public func pollMilliseconds(_ seconds: Double) -> Int32 {
    guard seconds.isFinite else { return Int32(longestPollWait * 1000) }
    return Int32(min(max(seconds * 1000, 1), longestPollWait * 1000))
}

/// The longest wait, in seconds, that any timeout may ask for (a day): durations from flags
/// and requests are checked against it, so none overflows a poll(2) or timespec conversion.
public let longestPollWait: Double = 86_400
