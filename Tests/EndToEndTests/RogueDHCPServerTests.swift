import Addressing
import CSystem
import DHCP
import JSON
import Namespaces
import POSIX
import ProcessRunner
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A UDP server of the test's own in a namespace: a thread polls its socket, hands each
/// datagram to `respond` and sends what it returns to the address it gives (nil: the sender).
/// It counts the datagrams `respond` answered.
class ScriptedUDPServer: @unchecked Sendable {
    let socket: FileDescriptor
    let heard = Atomic<Int>(0)
    let stopped = Atomic<Bool>(false)
    private var thread: pthread_t?

    /// `family`'s UDP socket bound to the wildcard address and `port` inside `path`, set up
    /// further by `configure` there (SO_BINDTODEVICE, a multicast group).
    init(
        inNamespace path: String, family: Int32, port: UInt16,
        configure: (FileDescriptor) throws(SystemError) -> Void
    ) throws {
        let namespace = try NetworkNamespace(path: path)
        socket = try namespace.run { () throws(SystemError) -> FileDescriptor in
            let fd = try FileDescriptor(
                checking: Glibc.socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0), "socket")
            var on: Int32 = 1
            setsockopt(fd.rawValue, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd.rawValue, SOL_SOCKET, SO_BROADCAST, &on, socklen_t(MemoryLayout<Int32>.size))
            try configure(fd)
            var address = sockaddr_storage()
            let length = Self.wildcard(&address, family: family, port: port)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd.rawValue, $0, length) }
            }
            try SystemError.check(bound, "bind port \(port)")
            return fd
        }
        thread = Threads.start { [self] in serve() }
    }

    /// The wildcard address of `family` with `port` (or a broadcast/peer address when the
    /// caller changes it), and its length.
    static func wildcard(_ storage: inout sockaddr_storage, family: Int32, port: UInt16) -> socklen_t {
        withUnsafeMutablePointer(to: &storage) { pointer in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    $0.pointee.sin6_family = sa_family_t(AF_INET6)
                    $0.pointee.sin6_port = in_port_t(port).bigEndian
                    return socklen_t(MemoryLayout<sockaddr_in6>.size)
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                $0.pointee.sin_family = sa_family_t(AF_INET)
                $0.pointee.sin_port = in_port_t(port).bigEndian
                return socklen_t(MemoryLayout<sockaddr_in>.size)
            }
        }
    }

    /// The reply to one datagram, and where to send it (nil: back to its sender); nil: none.
    func respond(_ datagram: [UInt8]) -> (bytes: [UInt8], destination: (sockaddr_storage, socklen_t)?)? { nil }

    func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        if let thread { pthread_join(thread, nil) }
        socket.closeIgnoringErrors()
    }

    private func serve() {
        var buffer = [UInt8](repeating: 0, count: 2048)
        while !stopped.load(ordering: .sequentiallyConsistent) {
            var descriptor = pollfd(fd: socket.rawValue, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 100) > 0 else { continue }
            var peer = sockaddr_storage()
            var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let count = buffer.withUnsafeMutableBytes { bytes in
                withUnsafeMutablePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(socket.rawValue, bytes.baseAddress, bytes.count, 0, $0, &peerLength)
                    }
                }
            }
            guard count > 0, let (reply, destination) = respond(Array(buffer[0..<count])) else { continue }
            heard.add(1, ordering: .relaxed)
            var (target, targetLength) = destination ?? (peer, peerLength)
            _ = reply.withUnsafeBytes { bytes in
                withUnsafePointer(to: &target) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(socket.rawValue, bytes.baseAddress, bytes.count, 0, $0, targetLength)
                    }
                }
            }
        }
    }
}

/// A DHCP server of the test's own in the LAN namespace that answers every DISCOVER and
/// REQUEST with what a broken or hostile server sends: a lease of 0 seconds and T1 = T2 = 0
/// (dnsmasq will not send those), broadcast.
final class RogueDHCPServer: ScriptedUDPServer, @unchecked Sendable {
    /// Options added to every reply (code, data): what a hostile server slips in.
    let extraOptions: [(UInt8, [UInt8])]

    init(inNamespace path: String, interface: String, extraOptions: [(UInt8, [UInt8])] = []) throws {
        self.extraOptions = extraOptions
        try super.init(inNamespace: path, family: AF_INET, port: 67) { (fd) throws(SystemError) in
            _ = interface.withCString {
                setsockopt(fd.rawValue, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(interface.utf8.count + 1))
            }
        }
    }

    override func respond(_ datagram: [UInt8]) -> (bytes: [UInt8], destination: (sockaddr_storage, socklen_t)?)? {
        guard let message = try? DHCPMessage(decoding: datagram), let type = message.messageType,
            type == .discover || type == .request
        else { return nil }
        var reply = DHCPMessage()
        reply.op = 2
        reply.transactionID = message.transactionID
        reply.flags = 0x8000
        reply.yourAddress = IPAddressLiteral.offered
        reply.clientHardwareAddress = message.clientHardwareAddress
        reply.setOption(53, [type == .discover ? DHCPMessageType.offer.rawValue : DHCPMessageType.ack.rawValue])
        reply.setOption(54, [10, 77, 0, 1])
        reply.setOption(51, [0, 0, 0, 0])
        reply.setOption(58, [0, 0, 0, 0])
        reply.setOption(59, [0, 0, 0, 0])
        reply.setOption(1, [255, 255, 255, 0])
        for (code, data) in extraOptions { reply.setOption(code, data) }
        var broadcast = sockaddr_storage()
        let length = Self.wildcard(&broadcast, family: AF_INET, port: 68)
        withUnsafeMutablePointer(to: &broadcast) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr = 0xffff_ffff }
        }
        return (reply.encoded(), (broadcast, length))
    }
}

enum IPAddressLiteral {
    static let offered = IPAddress("10.77.0.150") ?? IPAddress(v4: 0)
}

/// A DHCPv6 server of the test's own on [::]:547 in the LAN namespace (joined to ff02::1:2)
/// that answers every SOLICIT (Rapid Commit), REQUEST, RENEW and REBIND with an address of
/// valid and preferred lifetime 1 s and T1 = T2 = 0, to the sender.
final class RogueDHCPv6Server: ScriptedUDPServer, @unchecked Sendable {
    /// The address every reply leases.
    let leased: IPAddress

    init(inNamespace path: String, interface: String, leasing address: String = "fd00:77::150") throws {
        leased = IPAddress(address) ?? IPAddress(v4: 0)
        try super.init(inNamespace: path, family: AF_INET6, port: 547) { (fd) throws(SystemError) in
            var group = ipv6_mreq()
            group.ipv6mr_interface = UInt32(if_nametoindex(interface))
            withUnsafeMutableBytes(of: &group.ipv6mr_multiaddr) { raw in
                for (index, byte) in (IPAddress("ff02::1:2")?.bytes ?? []).enumerated() { raw[index] = byte }
            }
            let joined = setsockopt(
                fd.rawValue, Int32(IPPROTO_IPV6), IPV6_ADD_MEMBERSHIP, &group, socklen_t(MemoryLayout<ipv6_mreq>.size))
            try SystemError.check(joined, "join ff02::1:2")
        }
    }

    override func respond(_ datagram: [UInt8]) -> (bytes: [UInt8], destination: (sockaddr_storage, socklen_t)?)? {
        guard let message = try? DHCPv6Message(decoding: datagram),
            [.solicit, .request, .renew, .rebind].contains(message.type),
            let clientID = message.option(DHCPv6OptionCode.clientIdentifier),
            let ia = message.option(DHCPv6OptionCode.identityAssociationNA),
            let association = try? DHCPv6IdentityAssociation(decoding: ia)
        else { return nil }
        let granted = DHCPv6IdentityAssociation(
            iaid: association.iaid, t1: 0, t2: 0,
            addresses: [
                DHCPv6Address(address: leased, preferredLifetime: 1, validLifetime: 1)
            ])
        var options = [
            DHCPv6Option(DHCPv6OptionCode.clientIdentifier, clientID),
            DHCPv6Option(DHCPv6OptionCode.serverIdentifier, [0, 3, 0, 1, 2, 0, 0, 0, 0, 1]), granted.option,
        ]
        if message.type == .solicit { options.append(DHCPv6Option(DHCPv6OptionCode.rapidCommit, [])) }
        return (DHCPv6Message(type: .reply, transactionID: message.transactionID, options: options).encoded, nil)
    }
}

/// Under a server that gives leases of 0 s with T1 = T2 = 0, the daemon takes a one-minute
/// lease and does not renew in a loop (it sent hundreds of requests a second).
@Suite struct RogueDHCPServerTests {
    @Test func aLeaseOfZeroSecondsDoesNotMakeTheDaemonLoop() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, server: false)
        defer { lab.tearDown() }
        let server = try RogueDHCPServer(inNamespace: bed.path(lab.lan), interface: "up0p")
        defer { server.stop() }
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
        let afterLease = server.heard.load(ordering: .relaxed)
        usleep(3_000_000)
        let inThreeSeconds = server.heard.load(ordering: .relaxed) - afterLease
        FileIO.writeAll(
            .standardError,
            "dhcp: under a server giving 0 s leases and T1 = 0: ADD exit \(add.status), \(afterLease) messages to lease, \(inThreeSeconds) in the next 3 s\n"
        )
        #expect(add.status == 0, "\(add.output)")
        #expect(inThreeSeconds <= 2, "the daemon sent \(inThreeSeconds) requests in 3 s")
        _ = try bed.plugin(
            "macvlan", "DEL", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
    }
}

/// The same for DHCPv6: lifetimes of 1 s and T1 = T2 = 0 make a lease of a minute renewed
/// after 30 s, not a client renewing without pause.
@Suite struct RogueDHCPv6ServerTests {
    @Test func lifetimesOfOneSecondDoNotMakeTheDaemonLoop() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, server: false)
        defer { lab.tearDown() }
        try bed.ip(lab.lan, "addr", "add", "fd00:77::1/64", "dev", "up0p", "nodad")
        let server = try RogueDHCPv6Server(inNamespace: bed.path(lab.lan), interface: "up0p")
        defer { server.stop() }
        let c1 = try bed.namespace("c1")
        let config = lab.config(families: #"["IPv6"]"#)
        let add = try bed.plugin(
            "macvlan", "ADD", config: config, host: lab.host, containerID: "c1", netns: bed.path(c1))
        let afterLease = server.heard.load(ordering: .relaxed)
        usleep(3_000_000)
        let inThreeSeconds = server.heard.load(ordering: .relaxed) - afterLease
        FileIO.writeAll(
            .standardError,
            "dhcpv6: under a server giving 1 s lifetimes and T1 = 0: ADD exit \(add.status), \(afterLease) messages to lease, \(inThreeSeconds) in the next 3 s\n"
        )
        #expect(add.status == 0, "\(add.output)\n\(lab.log("daemon.log"))")
        #expect(add.json?["ips"]?.arrayValue?.first?["address"] == "fd00:77::150/128")
        #expect(inThreeSeconds <= 1, "the daemon sent \(inThreeSeconds) messages in 3 s")
        #expect(lab.log("daemon.log").contains("valid 60 s"), "\(lab.log("daemon.log"))")
        _ = try bed.plugin("macvlan", "DEL", config: config, host: lab.host, containerID: "c1", netns: bed.path(c1))
    }
}

/// What a hostile server says never reaches the CNI result: DNS values that are not domain
/// names (a newline would add resolv.conf lines) are dropped and named in the daemon's log with
/// the server; an address no host can hold is not leased.
@Suite struct RogueDHCPValueTests {
    @Test func injectedDNSValuesNeverReachTheResult() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, server: false)
        defer { lab.tearDown() }
        let evil = Array("evil.example\nnameserver 6.6.6.6\noptions ndots:99".utf8)
        let search: [UInt8] = [4] + Array("good".utf8) + [0] + [5] + Array("b\nad ".utf8) + [0]
        let server = try RogueDHCPServer(
            inNamespace: bed.path(lab.lan), interface: "up0p",
            extraOptions: [(6, [10, 77, 0, 53]), (15, evil), (119, search)])
        defer { server.stop() }
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)")
        let dns = add.json?["dns"]
        #expect(dns?["nameservers"] == ["10.77.0.53"], "\(add.output)")
        #expect(dns?["domain"] == nil && dns?["search"] == ["good"], "\(add.output)")
        #expect(!add.output.contains("6.6.6.6") && !add.output.contains("ndots"))
        let log = lab.log("daemon.log")
        #expect(
            log.contains(#"server 10.77.0.1 sent DNS values"#)
                && log.contains(
                    #"dropped: domain name "evil.example\nnameserver 6.6.6.6\noptions ndots:99", search domain "b\nad ""#
                ),
            "\(log)")
        _ = try bed.plugin(
            "macvlan", "DEL", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
    }

    @Test(arguments: ["fe80::150", "::ffff:10.77.0.9"])
    func aDHCPv6AddressNoHostCanHoldIsNotLeased(_ address: String) throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, server: false)
        defer { lab.tearDown() }
        try bed.ip(lab.lan, "addr", "add", "fd00:77::1/64", "dev", "up0p", "nodad")
        let server = try RogueDHCPv6Server(inNamespace: bed.path(lab.lan), interface: "up0p", leasing: address)
        defer { server.stop() }
        let c1 = try bed.namespace("c1")
        let config = lab.config(families: #"["IPv6"]"#, timeout: 2)
        let add = try bed.plugin(
            "macvlan", "ADD", config: config, host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(add.errorCode == 11, "\(add.output)")
        #expect(server.heard.load(ordering: .relaxed) > 0, "the server was asked")
        #expect(try bed.linkNames(c1) == ["lo"], "a failed ADD leaves no interface")
    }
}
