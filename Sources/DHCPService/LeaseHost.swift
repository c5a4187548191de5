import Addressing
import CSystem
import DHCP
import Namespaces
import Netlink
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// The DHCP sockets of one family on one interface, as the exchange uses them: the real
/// transports (`DHCPTransport`, `DHCPv6Transport`) or a test's scripted server.
public struct DHCPChannel<Incoming, Outgoing> {
    /// Throws the transport's error (a `SystemError`: ENETUNREACH, EADDRNOTAVAIL, ...).
    public let send: (Outgoing) throws -> Void
    /// One message, or nil when `timeout` seconds pass first.
    public let receive: (_ timeout: Double) -> Incoming?
    /// The message's type, for "heard 2 OFFER, 1 NAK".
    public let label: (Incoming) -> String
    /// DHCPv4: a reply unicast to an address the interface does not have yet arrives.
    public var receivesUnicast = true

    public init(
        send: @escaping (Outgoing) throws -> Void, receive: @escaping (_ timeout: Double) -> Incoming?,
        label: @escaping (Incoming) -> String, receivesUnicast: Bool = true
    ) {
        self.send = send
        self.receive = receive
        self.label = label
        self.receivesUnicast = receivesUnicast
    }
}

/// A container's network namespace as the daemon uses it.
public protocol LeaseNamespace: ContainerNamespace {
    func channel4(interface: String) throws -> DHCPChannel<DHCPMessage, (DHCPMessage, DHCPDestination)>
    func channel6(interface: String, index: Int32) throws -> DHCPChannel<DHCPv6Message, DHCPv6Message>
}

extension ContainerNamespace {
    /// Writes `net.ipv6.conf.<interface>.<name>` for each pair, inside the namespace.
    func writeIPv6Settings(interface: String, _ settings: [(name: String, value: String)]) throws {
        try writeSysctls(
            settings.map { SysctlWrite(Sysctl.interfaceKey(family: "ipv6", interface: interface, $0.name), $0.value) })
    }
}

/// What the lease daemon's decisions need from the world: the clocks, the containers'
/// namespaces, its state directory and its log. `SystemLeaseHost` is the real one; the unit
/// tests' fake plays the servers and the clock, so acquire, renew, rebind, expiry, restart
/// resume and a rogue server's values are decided without root or waiting.
public protocol LeaseHost: AnyObject, Sendable {
    /// Seconds on a monotonic clock (timers) and since the epoch (what is kept on disk).
    var monotonicSeconds: Double { get }
    var wallSeconds: Double { get }
    /// Waits `seconds` (polling for something that is not there yet).
    func pause(_ seconds: Double)
    /// The network namespace at `path`; throws when it cannot be opened (gone: ENOENT; not a
    /// network namespace: code 4).
    func openNamespace(_ path: String) throws -> any LeaseNamespace
    /// Replaces the file atomically (temporary file, fsync, rename), mode 0600.
    func writeState(_ path: String, _ bytes: [UInt8]) throws
    func removeState(_ path: String)
    /// The regular files in `directory` (made 0700 when missing): name and content.
    func stateFiles(in directory: String) -> [(name: String, bytes: [UInt8])]
    func log(_ text: String)
}

/// The real host: namespaces by path, netlink and sockets inside them, files on disk, stderr.
final class SystemLeaseHost: LeaseHost {
    var monotonicSeconds: Double { MonotonicClock.seconds }
    var wallSeconds: Double { WallClock.seconds }

    func pause(_ seconds: Double) { _ = poll(nil, 0, pollMilliseconds(seconds)) }

    func openNamespace(_ path: String) throws -> any LeaseNamespace {
        try NetworkNamespace(path: path)
    }

    func writeState(_ path: String, _ bytes: [UInt8]) throws {
        try AtomicFile.replace(path, with: bytes, mode: 0o600, sync: true)
    }

    func removeState(_ path: String) { unlink(path) }

    func stateFiles(in directory: String) -> [(name: String, bytes: [UInt8])] {
        _ = mkdir(directory, 0o700)
        return Directory.entryNames(atPath: directory).compactMap { name in
            (try? FileIO.readRegularFile(directory + "/" + name)).map { (name, $0) }
        }
    }

    func log(_ text: String) { DHCPService.log(text) }
}

/// The real namespace: DHCP sockets opened inside it.
extension NetworkNamespace: LeaseNamespace {
    public func channel4(interface: String) throws -> DHCPChannel<DHCPMessage, (DHCPMessage, DHCPDestination)> {
        let transport = try DHCPTransport(interface: interface, in: self)
        return DHCPChannel(
            send: { try transport.send($0.0, to: $0.1) }, receive: { transport.receive(timeout: $0) },
            label: DHCPTransport.label, receivesUnicast: transport.receivesUnicast)
    }

    public func channel6(interface: String, index: Int32) throws -> DHCPChannel<DHCPv6Message, DHCPv6Message> {
        let transport = try DHCPv6Transport(interface: interface, index: index, in: self)
        return DHCPChannel(
            send: { try transport.send($0) }, receive: { transport.receive(timeout: $0) },
            label: DHCPv6Transport.label)
    }
}
