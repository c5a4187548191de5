import Addressing
import CSystem
import DHCP
import Namespaces
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// DHCP's sockets on one interface inside a container's namespace (opened there, usable from
/// any thread): a UDP socket on port 68 that sends (from 0.0.0.0 while the interface has no
/// address), and a packet socket that receives every IPv4 packet of the interface, so a
/// server's reply arrives whether it is broadcast or unicast to an address not configured
/// yet; the client need not ask for broadcast replies (the reference's default). Without
/// CAP_NET_RAW the UDP socket receives, and only broadcast replies arrive (`receivesUnicast`).
final class DHCPTransport {
    let fd: FileDescriptor
    /// The packet socket, or -1 when it could not be opened.
    let packetFD: FileDescriptor?
    let interface: String

    /// Replies unicast to the offered address reach this transport.
    var receivesUnicast: Bool { packetFD != nil }

    init(interface: String, in namespace: NetworkNamespace) throws {
        self.interface = interface
        (fd, packetFD) = try namespace.run { () throws(SystemError) -> (FileDescriptor, FileDescriptor?) in
            let udp = try DHCPSocket.udp(family: AF_INET, port: 68, interface: interface)
            // Without CAP_NET_RAW there is no packet socket: broadcast replies only.
            let packet = try? FileDescriptor(
                checking: interface.withRawCString { csystem_ip_packet_socket($0) }, "packet socket on", interface)
            // Replies are read from the packet socket alone; the UDP socket's copy is discarded.
            if packet != nil { shutdown(udp.rawValue, Int32(SHUT_RD)) }
            return (udp, packet)
        }
    }

    /// Closing a packet socket waits for an RCU grace period (packet_release calls
    /// synchronize_net: 10-15 ms here), so it is closed on a thread of its own: the ADD's reply
    /// does not wait for it.
    deinit {
        fd.closeIgnoringErrors()
        if let packetFD {
            if !Thread.start({ packetFD.closeIgnoringErrors() }) { packetFD.closeIgnoringErrors() }
        }
    }

    static func label(_ message: DHCPMessage) -> String { message.typeName }

    func send(_ message: DHCPMessage, to destination: DHCPDestination) throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(67).bigEndian
        switch destination {
        case .broadcast: address.sin_addr.s_addr = in_addr_t(0xffff_ffff)
        case .unicast(let server): address.sin_addr.s_addr = in_addr_t(server.v4Value ?? 0).bigEndian
        }
        let bytes = message.encoded()
        let sent = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(
                        fd.rawValue, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        try SystemError.check(sent, "send on", interface)
        guard sent == bytes.count else {
            throw SystemError(operation: "send on", path: interface, errno: EMSGSIZE, problem: "short send")
        }
    }

    /// Waits up to `timeout` seconds for one reply that parses as DHCP; nil on timeout.
    /// Anything else (other IPv4 traffic on the packet socket, malformed datagrams) is dropped.
    func receive(timeout: Double) -> DHCPMessage? {
        let deadline = MonotonicClock.seconds + max(0, timeout)
        let source = (packetFD ?? fd).rawValue
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let remaining = deadline - MonotonicClock.seconds
            if remaining <= 0 { return nil }
            var descriptor = pollfd(fd: source, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, pollMilliseconds(min(remaining, 60)))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { continue }
            let datagram =
                receivesUnicast ? DHCPPacket.payload(ofIPv4: Array(buffer[0..<count])) : Array(buffer[0..<count])
            if let datagram, let message = try? DHCPMessage(decoding: datagram) { return message }
        }
    }
}

/// The UDP socket both DHCP transports start from.
enum DHCPSocket {
    /// socket(family, SOCK_DGRAM), SO_REUSEADDR (and SO_BROADCAST for IPv4), SO_BINDTODEVICE
    /// `interface` and bind to the wildcard address, `port`, in the calling thread's namespace.
    /// EADDRINUSE: another client holds the port on that interface; EPERM/EACCES: no root.
    static func udp(family: Int32, port: UInt16, interface: String) throws(SystemError) -> FileDescriptor {
        let udp = try FileDescriptor(
            checking: socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0), "socket on",
            interface)
        try udp.closeOnError { (udp) throws(SystemError) in
            var on: Int32 = 1
            setsockopt(udp.rawValue, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            if family == AF_INET {
                setsockopt(udp.rawValue, SOL_SOCKET, SO_BROADCAST, &on, socklen_t(MemoryLayout<Int32>.size))
            }
            let bound = interface.withRawCString {
                setsockopt(udp.rawValue, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(interface.rawBytes.count + 1))
            }
            try SystemError.check(bound, "bind to device on", interface)
            let result: Int32
            if family == AF_INET {
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = in_port_t(port).bigEndian
                result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(udp.rawValue, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            } else {
                var address = sockaddr_in6()
                address.sin6_family = sa_family_t(AF_INET6)
                address.sin6_port = in_port_t(port).bigEndian
                result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(udp.rawValue, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                    }
                }
            }
            try SystemError.check(result, "bind to port \(port) on", interface)
        }
        return udp
    }
}
