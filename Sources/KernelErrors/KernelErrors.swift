import CNI
import Firewall
import Namespaces
import Netlink

#if canImport(Glibc)
    import Glibc
#endif

// Where the errors of the kernel-facing modules meet the CNI codes. Linked by every binary
// that enters namespaces or talks netlink (the main plugins and the dhcp daemon), so a missing
// CNI_NETNS is code 4 wherever it is found.

extension NetlinkError: CNIErrorConvertible {
    /// Code 100 with the operation and errno text; EAGAIN/EBUSY-style transient errnos are
    /// code 11, since retrying may help.
    public var cniError: CNIError {
        let transient: Set<Int32> = [EAGAIN, EINTR, ENOBUFS]
        return CNIError(
            code: transient.contains(errno) ? .tryAgainLater : .kernelOperationFailed,
            msg: description, details: "errno \(errno)")
    }
}

extension NamespaceError: CNIErrorConvertible {
    /// A CNI_NETNS that is missing or not a namespace is a bad environment (code 4).
    public var cniError: CNIError {
        switch self {
        case .notFound, .notANamespace:
            CNIError(code: .invalidEnvironment, msg: "CNI_NETNS: \(description)")
        case .system:
            CNIError(code: .kernelOperationFailed, msg: description)
        }
    }
}

extension SysctlError: CNIErrorConvertible {
    public var cniError: CNIError { CNIError(code: .kernelOperationFailed, msg: description) }
}

extension FirewallError: CNIErrorConvertible {
    /// A firewall tool (iptables-restore, nft) refused or failed: code 100 with what it said.
    public var cniError: CNIError { CNIError(code: .kernelOperationFailed, msg: description) }
}
