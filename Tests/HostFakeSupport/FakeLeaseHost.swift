import Addressing
import DHCP
import DHCPService
import Namespaces
import Netlink
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// The lease daemon's world, played: a clock that moves only when told (or when a channel
/// waits for a reply that does not come), containers' namespaces on a FakeNode, servers as
/// functions from a client's message to their replies, state files in memory, the log kept.
/// One thread at a time (the FakeNode is not locked).
public final class FakeLeaseHost: LeaseHost, @unchecked Sendable {
    public init() {}
    public let node = FakeNode()
    public var clock: Double = 1000
    public let epoch: Double = 1_800_000_000
    public var files: [String: [UInt8]] = [:]
    public var lines: [String] = []
    public var sysctls: [String: String] = [:]
    /// The DHCPv4 server on every container's segment; nil replies: silent.
    public var server4: (DHCPMessage) -> [DHCPMessage] = { _ in [] }
    public var server6: (DHCPv6Message) -> [DHCPv6Message] = { _ in [] }
    public var sent4: [(message: DHCPMessage, destination: DHCPDestination)] = []
    public var sent6: [DHCPv6Message] = []

    public var monotonicSeconds: Double { clock }
    public var wallSeconds: Double { epoch + clock }
    public func pause(_ seconds: Double) { clock += seconds }

    public func openNamespace(_ path: String) throws -> any LeaseNamespace {
        guard node.namespaces[path] != nil else {
            throw SystemError(operation: "open", path: path, errno: ENOENT)
        }
        return FakeLeaseNamespace(host: self, path: path)
    }

    public func writeState(_ path: String, _ bytes: [UInt8]) throws { files[path] = bytes }
    public func removeState(_ path: String) { files[path] = nil }
    public func stateFiles(in directory: String) -> [(name: String, bytes: [UInt8])] {
        files.filter { $0.key.hasPrefix(directory + "/") }.map {
            (String($0.key.dropFirst(directory.count + 1)), $0.value)
        }
    }
    public func log(_ text: String) { lines.append(text) }

    /// A container namespace at `path` with `eth0` (down, MTU 1500, the given MAC) and its
    /// IPv6 link-local address.
    public func addContainer(_ path: String, mac: String = "02:00:00:00:00:c1") {
        node.addNamespace(path)
        let link = node.addLink(Link(index: 2, name: "eth0", mtu: 1500, address: MACAddress(mac)), in: path)
        node.namespaces[path]?.addresses.append(
            InterfaceAddress(interfaceIndex: link.index, prefix: IPPrefix("fe80::c1/64")!, scope: 253))
    }

    public func addresses(_ path: String) -> [String] {
        (node.namespaces[path]?.addresses ?? []).map(\.prefix.description).filter { !$0.hasPrefix("fe80") }
    }
}

public final class FakeLeaseNamespace: LeaseNamespace {
    public let host: FakeLeaseHost
    public let path: String

    public init(host: FakeLeaseHost, path: String) {
        self.host = host
        self.path = path
    }

    public func netlink() throws -> any NetlinkSession { FakeNetlink(node: host.node, namespace: path) }

    public let fileDescriptor = FileDescriptor(rawValue: -1)

    /// Records each write under `<interface>.<name>` for the IPv6 settings
    /// (net/ipv6/conf/<interface>/<name>), under the key otherwise.
    public func writeSysctls(_ writes: [SysctlWrite]) throws {
        for write in writes {
            let parts = write.key.split(separator: "/")
            let key = parts.count == 5 && parts[1] == "ipv6" ? "\(parts[3]).\(parts[4])" : write.key
            host.sysctls[key] = write.value
        }
    }

    /// Replies queue up as the client sends; a wait with none queued moves the clock on.
    final class Queue<Message> {
        var waiting: [Message] = []
    }

    /// A channel whose sends are recorded (`record`) and answered by the host's server
    /// (`answer`), the answers received in order.
    private func scripted<Incoming, Outgoing>(
        record: @escaping (Outgoing) -> Void, answer: @escaping (Outgoing) -> [Incoming],
        label: @escaping (Incoming) -> String
    ) -> DHCPChannel<Incoming, Outgoing> {
        let queue = Queue<Incoming>()
        return DHCPChannel(
            send: {
                record($0)
                queue.waiting += answer($0)
            },
            receive: { [host] timeout in
                if queue.waiting.isEmpty {
                    host.clock += timeout
                    return nil
                }
                return queue.waiting.removeFirst()
            }, label: label)
    }

    public func channel4(interface: String) throws -> DHCPChannel<DHCPMessage, (DHCPMessage, DHCPDestination)> {
        scripted(
            record: { [host] in host.sent4.append(($0.0, $0.1)) }, answer: { [host] in host.server4($0.0) },
            label: \.typeName)
    }

    public func channel6(interface: String, index: Int32) throws -> DHCPChannel<DHCPv6Message, DHCPv6Message> {
        scripted(record: { [host] in host.sent6.append($0) }, answer: { [host] in host.server6($0) }, label: \.typeName)
    }
}

/// A DHCPv4 server as a function: OFFER for DISCOVER, ACK for REQUEST, with the given lease
/// (address, seconds, T1, T2, MTU).
public struct ScriptedServer4 {
    public var address = "10.77.0.150"
    public var lease: UInt32 = 120
    public var t1: UInt32 = 60
    public var t2: UInt32 = 105
    public var mtu: UInt16?

    public init(
        address: String = "10.77.0.150", lease: UInt32 = 120, t1: UInt32 = 60, t2: UInt32 = 105, mtu: UInt16? = nil
    ) {
        self.address = address
        self.lease = lease
        self.t1 = t1
        self.t2 = t2
        self.mtu = mtu
    }

    public func reply(_ message: DHCPMessage) -> [DHCPMessage] {
        guard let type = message.messageType, type == .discover || type == .request else { return [] }
        var reply = DHCPMessage()
        reply.op = 2
        reply.transactionID = message.transactionID
        reply.yourAddress = IPAddress(address) ?? IPAddress(v4: 0)
        reply.clientHardwareAddress = message.clientHardwareAddress
        reply.setOption(53, [type == .discover ? DHCPMessageType.offer.rawValue : DHCPMessageType.ack.rawValue])
        reply.setOption(54, [10, 77, 0, 1])
        reply.setOption(51, be32(lease))
        reply.setOption(58, be32(t1))
        reply.setOption(59, be32(t2))
        reply.setOption(1, [255, 255, 255, 0])
        reply.setOption(3, [10, 77, 0, 1])
        if let mtu { reply.setOption(26, [UInt8(mtu >> 8), UInt8(mtu & 0xff)]) }
        return [reply]
    }
}

/// A DHCPv6 server as a function: REPLY (with Rapid Commit) to SOLICIT, REPLY to REQUEST,
/// RENEW, REBIND; Success to CONFIRM.
public struct ScriptedServer6 {
    public var address = "fd00:77::150"
    public var valid: UInt32 = 120
    public var t1: UInt32 = 60
    public var t2: UInt32 = 96

    public init() {}

    public func reply(_ message: DHCPv6Message) -> [DHCPv6Message] {
        guard let clientID = message.option(DHCPv6OptionCode.clientIdentifier) else { return [] }
        var options = [
            DHCPv6Option(DHCPv6OptionCode.clientIdentifier, clientID),
            DHCPv6Option(DHCPv6OptionCode.serverIdentifier, [0, 3, 0, 1, 2, 0, 0, 0, 0, 1]),
        ]
        switch message.type {
        case .confirm:
            options.append(DHCPv6Option(DHCPv6OptionCode.statusCode, [0, 0]))
        case .solicit, .request, .renew, .rebind:
            guard let ia = message.option(DHCPv6OptionCode.identityAssociationNA),
                let association = try? DHCPv6IdentityAssociation(decoding: ia)
            else { return [] }
            let granted = DHCPv6Address(
                address: IPAddress(address) ?? IPAddress(v4: 0), preferredLifetime: valid, validLifetime: valid)
            options.append(
                DHCPv6IdentityAssociation(iaid: association.iaid, t1: t1, t2: t2, addresses: [granted]).option)
            if message.type == .solicit { options.append(DHCPv6Option(DHCPv6OptionCode.rapidCommit, [])) }
        default:
            return []
        }
        return [DHCPv6Message(type: .reply, transactionID: message.transactionID, options: options)]
    }
}

/// Big-endian bytes of a 32-bit value (option data).
private func be32(_ value: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8(value >> $0 & 0xff) } }
