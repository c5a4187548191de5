import CSystem
import POSIX

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Why a network namespace could not be opened or entered.
public enum NamespaceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The path does not exist (ENOENT): the container is gone. DEL treats this as success.
    case notFound(path: String)
    /// The path exists but is not a network namespace (its filesystem is neither nsfs nor proc).
    case notANamespace(path: String)
    /// open(2), fstatfs(2) or setns(2) failed.
    case system(SystemError)

    public var description: String {
        switch self {
        case .notFound(let path): "network namespace \(path) does not exist"
        case .notANamespace(let path): "\(path) is not a network namespace"
        case .system(let cause): cause.description
        }
    }
}

/// An open network namespace: a file descriptor that keeps it alive and can be entered with
/// setns(2) or handed to the kernel as IFLA_NET_NS_FD.
///
/// Entering is per thread: `run(_:)` switches the calling thread only, and back again, so
/// plugin code that uses it must stay synchronous.
public final class NetworkNamespace: @unchecked Sendable {
    /// NSFS_MAGIC: the filesystem of /proc/PID/ns/net and of bind mounts of it (/run/netns/NAME).
    private static let nsfsMagic: Int = 0x6e73_6673
    /// PROC_SUPER_MAGIC: kernels before 3.19 showed namespace files on procfs.
    private static let procMagic: Int = 0x9fa0

    public let path: String
    public let fileDescriptor: FileDescriptor

    /// Opens the namespace at `path` read-only with O_CLOEXEC and O_NONBLOCK (so a FIFO or
    /// device planted at the path never blocks the open), then checks with fstatfs(2) that it
    /// is a namespace file and with ioctl NS_GET_NSTYPE that it is a network namespace (kernels
    /// before 4.11 answer ENOTTY: the filesystem check stands alone there). Throws `.notFound`
    /// for ENOENT (a deleted netns), `.notANamespace` for any other file or namespace type.
    public init(path: String) throws(NamespaceError) {
        let opened = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard opened >= 0 else {
            let error = SystemError.last("open", path)
            if error.errno == ENOENT { throw .notFound(path: path) }
            throw .system(error)
        }
        let fd = FileDescriptor(rawValue: opened)
        let magic = csystem_fs_type(fd.rawValue)
        guard magic != -1 else {
            let error = SystemError.last("fstatfs", path)
            fd.closeIgnoringErrors()
            throw .system(error)
        }
        guard magic == Self.nsfsMagic || magic == Self.procMagic else {
            fd.closeIgnoringErrors()
            throw .notANamespace(path: path)
        }
        let type = csystem_namespace_type(fd.rawValue)
        guard type == csystem_clone_newnet() || (type == -1 && errno == ENOTTY && magic == Self.procMagic) else {
            fd.closeIgnoringErrors()
            throw .notANamespace(path: path)
        }
        self.path = path
        self.fileDescriptor = fd
    }

    /// Takes over `fileDescriptor`, a network namespace the kernel handed out as such (the
    /// namespace of a socket, SIOCGSKNS); it is closed with this object. `path` names it in
    /// errors.
    public init(adopting fileDescriptor: FileDescriptor, path: String) {
        self.path = path
        self.fileDescriptor = fileDescriptor
    }

    deinit { fileDescriptor.closeIgnoringErrors() }

    /// The namespace the calling thread is in now (/proc/thread-self/ns/net).
    public static func current() throws(NamespaceError) -> NetworkNamespace {
        try NetworkNamespace(path: "/proc/thread-self/ns/net")
    }

    /// The inode of the namespace: two handles name the same namespace when these are equal.
    public var identity: (device: UInt64, inode: UInt64) {
        var info = stat()
        guard fstat(fileDescriptor.rawValue, &info) == 0 else { return (0, 0) }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    public func isSame(as other: NetworkNamespace) -> Bool {
        identity == other.identity
    }

    /// Runs `body` on the calling thread inside this namespace and switches back afterwards,
    /// also when `body` throws. setns(2) with CLONE_NEWNET; EPERM without CAP_SYS_ADMIN.
    /// If switching back fails the thread would be left in the wrong namespace, so the process
    /// stops rather than carrying on there.
    public func run<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws -> Result {
        let origin = try NetworkNamespace.current()
        if isSame(as: origin) { return try body() }
        guard csystem_setns_net(fileDescriptor.rawValue) == 0 else {
            throw NamespaceError.system(.last("setns", path))
        }
        defer {
            if csystem_setns_net(origin.fileDescriptor.rawValue) != 0 {
                fatalError("cannot return to the original network namespace: errno \(errno)")
            }
        }
        return try body()
    }
}
