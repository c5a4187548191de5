import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// A failed netlink operation: the system error (what was attempted, the errno the kernel or
/// the socket gave) and the kernel's extended-ack text when it sent one (NETLINK_EXT_ACK,
/// NLMSGERR_ATTR_MSG).
public struct NetlinkError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The operation, naming the object (`create link "cni1a2b" (macvlan)`), and the errno.
    public var cause: SystemError
    /// The kernel's own explanation, e.g. "Unknown device type" or "Invalid MTU".
    public var extendedAck: String?

    public init(operation: String, errno: Int32, extendedAck: String? = nil) {
        cause = SystemError(operation: operation, errno: errno)
        self.extendedAck = extendedAck
    }

    public var operation: String { cause.operation }
    public var errno: Int32 { cause.errno }

    public var description: String {
        var text = cause.description
        if let extendedAck, !extendedAck.isEmpty { text += " (\(extendedAck))" }
        return text
    }

    public var isNotFound: Bool { errno == ENODEV || errno == ENOENT || errno == ESRCH }
    public var isExists: Bool { errno == EEXIST }
}
