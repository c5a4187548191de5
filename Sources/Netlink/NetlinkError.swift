import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// A failed netlink operation: what was attempted, the errno the kernel (or the socket) gave,
/// and the kernel's extended-ack text when it sent one (NETLINK_EXT_ACK, NLMSGERR_ATTR_MSG).
public struct NetlinkError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was attempted, naming the object: `create link "cni1a2b" (macvlan)`.
    public var operation: String
    public var errno: Int32
    /// The kernel's own explanation, e.g. "Unknown device type" or "Invalid MTU".
    public var extendedAck: String?

    public init(operation: String, errno: Int32, extendedAck: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.extendedAck = extendedAck
    }

    public var description: String {
        var text = "\(operation): \(SystemError.message(for: errno))"
        if let extendedAck, !extendedAck.isEmpty { text += " (\(extendedAck))" }
        return text
    }

    public var isNotFound: Bool { errno == ENODEV || errno == ENOENT || errno == ESRCH }
    public var isExists: Bool { errno == EEXIST }
}
