import Addressing
import CSystem
import DHCP
import Namespaces
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// DHCPv6's socket on one interface inside a container's namespace (opened there, usable from
/// any thread): UDP on [::]:546 bound to the interface, sending to
/// All_DHCP_Relay_Agents_and_Servers (ff02::1:2) port 547 from the interface's link-local
/// address; servers answer that address, port 546.
final class DHCPv6Transport {
    let fd: FileDescriptor
    let interface: String
    let interfaceIndex: Int32

    /// socket(AF_INET6, SOCK_DGRAM), SO_BINDTODEVICE and bind([::]:546) in `namespace`.
    /// EADDRINUSE: another DHCPv6 client holds port 546 on that interface; EPERM: no root.
    init(interface: String, index: Int32, in namespace: NetworkNamespace) throws {
        self.interface = interface
        interfaceIndex = index
        fd = try namespace.run { () throws(SystemError) -> FileDescriptor in
            try DHCPSocket.udp(family: AF_INET6, port: 546, interface: interface)
        }
    }

    deinit { fd.closeIgnoringErrors() }

    static let serversAddress = IPAddress("ff02::1:2")

    static func label(_ message: DHCPv6Message) -> String { message.typeName }

    /// sendto ff02::1:2%interface port 547. EADDRNOTAVAIL: the interface has no usable
    /// link-local address yet (tentative, duplicate address detection running).
    func send(_ message: DHCPv6Message) throws {
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = in_port_t(547).bigEndian
        address.sin6_scope_id = UInt32(bitPattern: interfaceIndex)
        let group = Self.serversAddress?.bytes ?? []
        withUnsafeMutableBytes(of: &address.sin6_addr) { raw in
            for (index, byte) in group.enumerated() where index < raw.count { raw[index] = byte }
        }
        let bytes = message.encoded
        let sent = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(
                        fd.rawValue, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)
                    )
                }
            }
        }
        try SystemError.check(sent, "send DHCPv6 on", interface)
    }

    /// Waits up to `timeout` seconds for one datagram that parses as a DHCPv6 message; nil on
    /// timeout. Anything else is dropped.
    func receive(timeout: Double) -> DHCPv6Message? {
        let deadline = MonotonicClock.seconds + max(0, timeout)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let remaining = deadline - MonotonicClock.seconds
            if remaining <= 0 { return nil }
            var descriptor = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, pollMilliseconds(min(remaining, 60)))
            if ready <= 0 { continue }
            let count = buffer.withUnsafeMutableBytes { recv(fd.rawValue, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { continue }
            if let message = try? DHCPv6Message(decoding: buffer[0..<count]) { return message }
        }
    }
}
