import Addressing
import System
import CSystem
import DHCP
import Namespaces
#if canImport(Glibc)
import Glibc
#endif

/// A UDP socket on port 68 bound to one interface inside a container's namespace (opened
/// there, usable from any thread). Without an address on the interface it sends from
/// 0.0.0.0 and receives the servers' broadcast replies (the client sets the broadcast flag).
final class DHCPTransport {
    let fd: Int32
    let interface: String

    init(interface: String, in namespace: NetworkNamespace) throws {
        self.interface = interface
        fd = try namespace.run { () throws(SystemError) -> Int32 in
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw SystemError(operation: "socket on", path: interface, errno: errno) }
            var on: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, socklen_t(MemoryLayout<Int32>.size))
            let bound = interface.withCString { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(interface.utf8.count + 1)) }
            guard bound == 0 else {
                let error = errno
                close(fd)
                throw SystemError(operation: "bind to device on", path: interface, errno: error)
            }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(68).bigEndian
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard result == 0 else {
                let error = errno
                close(fd)
                throw SystemError(operation: "bind to port 68 on", path: interface, errno: error)
            }
            return fd
        }
    }

    deinit { close(fd) }

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
                    sendto(fd, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard sent == bytes.count else { throw SystemError(operation: "send on", path: interface, errno: errno) }
    }

    /// Waits up to `timeout` seconds for one datagram that parses as DHCP; nil on timeout.
    /// Datagrams that do not parse are dropped.
    func receive(timeout: Double) -> DHCPMessage? {
        let deadline = MonotonicClock.seconds + max(0, timeout)
        var buffer = [UInt8](repeating: 0, count: 1500)
        while true {
            let remaining = deadline - MonotonicClock.seconds
            if remaining <= 0 { return nil }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, pollMilliseconds(min(remaining, 60)))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { continue }
            if let message = try? DHCPMessage(decoding: Array(buffer[0..<count])) { return message }
        }
    }
}
