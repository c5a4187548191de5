import POSIX

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Why a sysctl under /proc/sys could not be read or written: its key and the system error
/// (open, read or write of /proc/sys/<key>, and the errno).
public struct SysctlError: Error, Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var cause: SystemError

    public init(key: String, operation: String, errno: Int32) {
        self.key = key
        cause = SystemError(operation: operation, path: Sysctl.path(for: key), errno: errno)
    }

    public var operation: String { cause.operation }
    public var errno: Int32 { cause.errno }

    public var description: String {
        "sysctl \(key): \(operation) failed: \(cause.problem ?? SystemError.message(for: errno))"
    }
}

/// Kernel parameters under /proc/sys, named by their path below it ("net/ipv4/ip_forward"):
/// slashes, not dots, because interface names may hold dots ("net/ipv4/conf/eth0.10/arp_notify").
///
/// Entries under /proc/sys/net belong to the network namespace of the thread that opens them,
/// so call these inside `NetworkNamespace.run` for a container's settings.
public enum Sysctl {
    static func path(for key: String) -> String {
        "/proc/sys/" + key
    }

    /// Reads a value, without its trailing newline. ENOENT: no such key (or the feature is absent).
    public static func read(_ key: String) throws(SysctlError) -> String {
        let opened = path(for: key).withRawCString { open($0, O_RDONLY | O_CLOEXEC) }
        guard opened >= 0 else { throw SysctlError(key: key, operation: "open", errno: errno) }
        let fd = FileDescriptor(rawValue: opened)
        defer { fd.closeIgnoringErrors() }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd.rawValue, $0.baseAddress, $0.count) }
        guard count >= 0 else { throw SysctlError(key: key, operation: "read", errno: errno) }
        var text = String(decoding: buffer[0..<count], as: UTF8.self)
        while text.last == "\n" { text.removeLast() }
        return text
    }

    /// Writes a value. ENOENT: no such key; EINVAL: the kernel refused the value.
    public static func write(_ key: String, _ value: String) throws(SysctlError) {
        let opened = path(for: key).withRawCString { open($0, O_WRONLY | O_CLOEXEC) }
        guard opened >= 0 else { throw SysctlError(key: key, operation: "open", errno: errno) }
        let fd = FileDescriptor(rawValue: opened)
        defer { fd.closeIgnoringErrors() }
        let bytes = Array(value.utf8)
        let count = bytes.withUnsafeBytes { Glibc.write(fd.rawValue, $0.baseAddress, $0.count) }
        guard count == bytes.count else {
            throw SysctlError(key: key, operation: "write", errno: count < 0 ? errno : EIO)
        }
    }

    /// The key of a per-interface setting: `net/<family>/conf/<interface>/<name>`,
    /// family "ipv4" or "ipv6".
    public static func interfaceKey(family: String, interface: String, _ name: String) -> String {
        "net/\(family)/conf/\(interface)/\(name)"
    }
}

/// One sysctl for `ContainerNamespace.writeSysctls(_:)`: a key relative to /proc/sys.
public struct SysctlWrite: Sendable, Equatable {
    public var key: String
    public var value: String
    /// The key may not exist (ENOENT), and then nothing is written.
    public var mayBeMissing: Bool

    public init(_ key: String, _ value: String, mayBeMissing: Bool = false) {
        self.key = key
        self.value = value
        self.mayBeMissing = mayBeMissing
    }
}
