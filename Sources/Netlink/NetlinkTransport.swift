import CMnl
import Namespaces
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// Where netlink requests go: the kernel through an `MnlSocket`, or a recorder in tests.
public protocol NetlinkTransport: AnyObject {
    /// The port id the kernel addresses replies to.
    var portID: UInt32 { get }
    /// Sends one request message.
    func send(_ message: [UInt8]) throws(NetlinkError)
    /// Receives one datagram (one or more netlink messages) into a new array.
    func receive() throws(NetlinkError) -> [UInt8]
}

/// A NETLINK_ROUTE socket owned through libmnl (`mnl_socket`), with NETLINK_EXT_ACK (the
/// kernel explains errors), NETLINK_CAP_ACK (acks do not echo the request) and
/// NETLINK_GET_STRICT_CHK (dump filters are honoured) set.
///
/// A socket belongs to the network namespace it was opened in, for its whole life:
/// `init(in:)` opens one inside another namespace, usable from any thread.
public final class MnlSocket: NetlinkTransport {
    private let socket: OpaquePointer
    public let portID: UInt32
    /// Where datagrams are received: allocated, never zeroed (the kernel writes what it sends,
    /// and only those bytes are read; zeroing 32 KiB cost each plugin process 8 page faults).
    private let buffer: UnsafeMutableRawBufferPointer

    /// Opens and binds the socket in the calling thread's network namespace: NETLINK_ROUTE,
    /// or another netlink family (`NETLINK_NETFILTER` for ctnetlink).
    public init(family: Int32 = NETLINK_ROUTE) throws(NetlinkError) {
        guard let socket = mnl_socket_open2(family, Int32(SOCK_CLOEXEC.rawValue)) else {
            throw NetlinkError(operation: "open netlink socket", errno: errno)
        }
        var on: Int32 = 1
        for option in [cmnl_netlink_ext_ack(), cmnl_netlink_cap_ack(), cmnl_netlink_get_strict_chk()] {
            // Older kernels lack some of these; they only improve errors, so failure is not fatal.
            _ = mnl_socket_setsockopt(socket, option, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        guard mnl_socket_bind(socket, 0, pid_t(cmnl_socket_autopid())) == 0 else {
            let error = errno
            mnl_socket_close(socket)
            throw NetlinkError(operation: "bind netlink socket", errno: error)
        }
        self.socket = socket
        self.portID = mnl_socket_get_portid(socket)
        // Dumps of a namespace with many links need room: 32 KiB per datagram is what the
        // kernel uses at most for a dump skb here.
        self.buffer = .allocate(byteCount: max(cmnl_socket_buffer_size(), 32768), alignment: 8)
    }

    /// Opens a socket inside `namespace` (setns there and back on the calling thread); the
    /// socket keeps working in that namespace from wherever it is used.
    public static func open(in namespace: NetworkNamespace) throws -> MnlSocket {
        try namespace.run { () throws(NetlinkError) in try MnlSocket() }
    }

    /// The socket's descriptor, for poll(2) and for asking the kernel about it (the socket
    /// still owns it).
    var descriptor: FileDescriptor { FileDescriptor(rawValue: mnl_socket_get_fd(socket)) }

    /// NETLINK_ADD_MEMBERSHIP of multicast `group` (RTNLGRP_LINK: every link's RTM_NEWLINK and
    /// RTM_DELLINK in the socket's namespace); false when the kernel refuses.
    func join(group: UInt32) -> Bool {
        var number = group
        return mnl_socket_setsockopt(
            socket, Int32(NETLINK_ADD_MEMBERSHIP), &number, socklen_t(MemoryLayout<UInt32>.size)) == 0
    }

    deinit {
        mnl_socket_close(socket)
        buffer.deallocate()
    }

    /// Bounds every later receive: after `seconds` without a datagram, `receive` throws EAGAIN
    /// instead of waiting on (for conversations whose every answer the kernel owes, where
    /// waiting longer would only hang the plugin).
    public func setReceiveTimeout(seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        _ = setsockopt(
            mnl_socket_get_fd(socket), SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Makes room for a datagram of `bytes` (an nf_tables batch of a thousand rules is larger
    /// than the default send buffer, and netlink refuses a datagram over it with EMSGSIZE):
    /// SO_SNDBUFFORCE (needs CAP_NET_ADMIN), else SO_SNDBUF up to net.core.wmem_max. Failure
    /// leaves the buffer as it was; the send then says EMSGSIZE.
    public func ensureSendBuffer(_ bytes: Int) {
        let descriptor = mnl_socket_get_fd(socket)
        var current: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &current, &length) == 0, Int(current) < bytes + 4096
        else { return }
        var wanted = Int32(clamping: bytes + 4096)
        let size = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(descriptor, SOL_SOCKET, SO_SNDBUFFORCE, &wanted, size) != 0 {
            _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &wanted, size)
        }
    }

    public func send(_ message: [UInt8]) throws(NetlinkError) {
        let sent = message.withUnsafeBytes { mnl_socket_sendto(socket, $0.baseAddress, $0.count) }
        guard sent == message.count else {
            throw NetlinkError(operation: "send netlink request", errno: sent < 0 ? errno : EIO)
        }
    }

    public func receive() throws(NetlinkError) -> [UInt8] {
        while true {
            let count = mnl_socket_recvfrom(socket, buffer.baseAddress, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw NetlinkError(operation: "receive netlink reply", errno: errno)
            }
            return Array(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }
}
