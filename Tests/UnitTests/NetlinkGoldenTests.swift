import Addressing
import Netlink
import POSIX
import Testing

/// Records requests and plays back prepared kernel replies; no socket, no root.
final class RecordingTransport: NetlinkTransport {
    let portID: UInt32 = 4242
    var sent: [[UInt8]] = []
    /// Datagrams to hand out, one per receive(); built from the sequence number just sent.
    var replies: [(UInt32) -> [UInt8]] = []

    func send(_ message: [UInt8]) throws(NetlinkError) { sent.append(message) }

    func receive() throws(NetlinkError) -> [UInt8] {
        guard !replies.isEmpty else { throw NetlinkError(operation: "receive (mock has no reply)", errno: 11) }
        let sequence =
            sent.last.map { UInt32($0[8]) | UInt32($0[9]) << 8 | UInt32($0[10]) << 16 | UInt32($0[11]) << 24 } ?? 0
        return replies.removeFirst()(sequence)
    }
}

/// Little-endian field helpers for writing expected messages by hand.
func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8)] }
func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8((value >> (8 * $0)) & 0xff) } }
func attribute(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
    let length = 4 + payload.count
    return le16(UInt16(length)) + le16(type) + payload + [UInt8](repeating: 0, count: (4 - length % 4) % 4)
}
/// A nested attribute: libmnl's mnl_attr_nest_start sets NLA_F_NESTED (0x8000) on the type.
func nested(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] { attribute(type | 0x8000, payload) }
func nlmsg(type: UInt16, flags: UInt16, sequence: UInt32, port: UInt32, _ body: [UInt8]) -> [UInt8] {
    le32(UInt32(16 + body.count)) + le16(type) + le16(flags) + le32(sequence) + le32(port) + body
}
/// An NLMSG_ERROR reply: error code, the echoed request header (capped), optional ext-ack TLVs.
func errorReply(_ error: Int32, sequence: UInt32, port: UInt32, message: String? = nil) -> [UInt8] {
    var body = le32(UInt32(bitPattern: error)) + nlmsg(type: 16, flags: 5, sequence: sequence, port: 0, [])
    var flags: UInt16 = 0x100  // NLM_F_CAPPED
    if let message {
        body += attribute(1, Array(message.utf8) + [0])
        flags |= 0x200  // NLM_F_ACK_TLVS
    }
    return nlmsg(type: 2, flags: flags, sequence: sequence, port: port, body)
}

@Suite struct NetlinkGoldenTests {
    let ifinfoZero = [UInt8](repeating: 0, count: 16)

    @Test func createMacvlanInAnotherNamespace() throws {
        let transport = RecordingTransport()
        transport.replies = [{ errorReply(0, sequence: $0, port: 4242) }]
        let netlink = RouteNetlink(transport: transport, firstSequence: 7)
        try netlink.createLink(
            LinkRequest(
                name: "mv0", kind: .macvlan(mode: .bridge), parentIndex: 3, namespaceFD: FileDescriptor(rawValue: 9)))

        // RTM_NEWLINK (16), NLM_F_REQUEST|NLM_F_ACK|NLM_F_EXCL|NLM_F_CREATE = 0x605, seq 7, port 0.
        let expected = nlmsg(
            type: 16, flags: 0x605, sequence: 7, port: 0,
            ifinfoZero
                + attribute(3, Array("mv0".utf8) + [0])  // IFLA_IFNAME
                + attribute(5, le32(3))  // IFLA_LINK
                + attribute(28, le32(9))  // IFLA_NET_NS_FD
                + nested(
                    18,  // IFLA_LINKINFO
                    attribute(1, Array("macvlan".utf8) + [0])  //   IFLA_INFO_KIND
                        + nested(2, attribute(1, le32(4)))))  //   IFLA_INFO_DATA { IFLA_MACVLAN_MODE = bridge (4) }
        #expect(transport.sent == [expected])
    }

    /// A request that outgrows the builder's first zeroed bytes (it zeroes more as it grows)
    /// still carries zeros in every attribute's padding: 700 one-letter names, 8 bytes each
    /// with 2 of padding, past 512 and 2048 bytes.
    @Test func paddingStaysZeroAsTheRequestGrows() throws {
        let transport = RecordingTransport()
        transport.replies = [{ errorReply(0, sequence: $0, port: 4242) }]
        // The allocator hands the builder this freed block again: its bytes are not zeros.
        let poison = UnsafeMutableRawPointer.allocate(byteCount: 16384, alignment: 8)
        poison.initializeMemory(as: UInt8.self, repeating: 0xFF, count: 16384)
        poison.deallocate()
        let request = MessageBuilder(type: 16, flags: 0)
        request.putFamilyHeader((UInt64(0), UInt64(0)))  // a zero ifinfomsg (16 bytes)
        for _ in 0..<700 { request.put(3, string: "a") }
        try RouteNetlink(transport: transport, firstSequence: 1).perform(request, operation: "grow")
        var body = ifinfoZero
        for _ in 0..<700 { body += attribute(3, Array("a".utf8) + [0]) }
        #expect(transport.sent == [nlmsg(type: 16, flags: 0x5, sequence: 1, port: 0, body)])
    }

    /// A delete that does not wait for the release falls back to a plain RTM_DELLINK where
    /// the transport is not a kernel socket: the same bytes as `deleteLink`.
    @Test func deleteWithoutWaitingIsAPlainDeleteOnAnotherTransport() throws {
        let transport = RecordingTransport()
        transport.replies = [{ errorReply(0, sequence: $0, port: 4242) }]
        try RouteNetlink(transport: transport, firstSequence: 3).deleteLinkWithoutWaitingForRelease(index: 12)
        let index = [UInt8](repeating: 0, count: 4) + le32(12) + [UInt8](repeating: 0, count: 8)
        // RTM_DELLINK (17), NLM_F_REQUEST|NLM_F_ACK = 0x5.
        #expect(transport.sent == [nlmsg(type: 17, flags: 0x5, sequence: 3, port: 0, index)])
    }

    /// What marks the end of the wait: the kernel's RTM_DELLINK notification of that link
    /// (ifinfomsg.ifi_index), not another link's, nor an RTM_NEWLINK.
    @Test func theDeletionNotificationIsRecognisedByIndex() {
        func notification(_ type: UInt16, index: UInt32) -> [UInt8] {
            nlmsg(type: type, flags: 0, sequence: 0, port: 0, [0, 0, 1, 0] + le32(index) + le32(0) + le32(0))
        }
        #expect(RouteNetlink.announcesDeletion(of: 12, notification(17, index: 12)))
        #expect(RouteNetlink.announcesDeletion(of: 12, notification(16, index: 3) + notification(17, index: 12)))
        #expect(!RouteNetlink.announcesDeletion(of: 12, notification(17, index: 13)))
        #expect(!RouteNetlink.announcesDeletion(of: 12, notification(16, index: 12)))
        #expect(!RouteNetlink.announcesDeletion(of: 12, Array(notification(17, index: 12).prefix(20))))
    }

    @Test func createVethWithPeerHeader() throws {
        let message = RouteNetlink.createLinkMessage(
            LinkRequest(
                name: "veth0", kind: .veth(peerName: "eth0", peerNamespaceFD: FileDescriptor(rawValue: 5)), mtu: 1400))
        let transport = RecordingTransport()
        transport.replies = [{ errorReply(0, sequence: $0, port: 4242) }]
        try RouteNetlink(transport: transport).perform(message, operation: "veth")
        let peer =
            ifinfoZero + attribute(3, Array("eth0".utf8) + [0]) + attribute(4, le32(1400)) + attribute(28, le32(5))
        let expected = nlmsg(
            type: 16, flags: 0x605, sequence: 1, port: 0,
            ifinfoZero
                + attribute(3, Array("veth0".utf8) + [0])
                + attribute(4, le32(1400))  // IFLA_MTU
                + nested(
                    18,
                    attribute(1, Array("veth".utf8) + [0])
                        + nested(2, nested(1, peer))))  // VETH_INFO_PEER: ifinfomsg + attributes
        #expect(transport.sent.first == expected)
    }

    @Test func addIPv4AddressWithBroadcast() throws {
        let transport = RecordingTransport()
        transport.replies = [{ errorReply(0, sequence: $0, port: 4242) }]
        try RouteNetlink(transport: transport).addAddress(
            InterfaceAddress(interfaceIndex: 2, prefix: try #require(IPPrefix("10.1.2.3/24"))))
        // RTM_NEWADDR (20); ifaddrmsg {AF_INET=2, prefixlen 24, flags 0, scope 0, index 2}.
        let expected = nlmsg(
            type: 20, flags: 0x605, sequence: 1, port: 0,
            [2, 24, 0, 0] + le32(2)
                + attribute(2, [10, 1, 2, 3])  // IFA_LOCAL
                + attribute(1, [10, 1, 2, 3])  // IFA_ADDRESS
                + attribute(4, [10, 1, 2, 255]))  // IFA_BROADCAST
        #expect(transport.sent == [expected])
    }

    @Test func addDefaultRouteViaGateway() throws {
        let transport = RecordingTransport()
        transport.replies = [{ errorReply(0, sequence: $0, port: 4242) }]
        try RouteNetlink(transport: transport).addRoute(
            Route(
                destination: try #require(IPPrefix("0.0.0.0/0")),
                gateway: IPAddress("10.1.2.1"), outputInterfaceIndex: 2, mtu: 1400))
        // RTM_NEWROUTE (24); rtmsg {AF_INET, dst_len 0, src 0, tos 0, table main 254, proto boot 3, scope universe 0, unicast 1, flags 0}.
        let expected = nlmsg(
            type: 24, flags: 0x605, sequence: 1, port: 0,
            [2, 0, 0, 0, 254, 3, 0, 1] + le32(0)
                + attribute(5, [10, 1, 2, 1])  // RTA_GATEWAY
                + attribute(4, le32(2))  // RTA_OIF
                + attribute(15, le32(254))  // RTA_TABLE
                + nested(8, attribute(2, le32(1400))))  // RTA_METRICS { RTAX_MTU }
        #expect(transport.sent == [expected])
    }

    @Test func bridgeVLANsWithRangeOnTheBridgeItself() throws {
        let transport = RecordingTransport()
        transport.replies = [{ errorReply(0, sequence: $0, port: 4242) }]
        try RouteNetlink(transport: transport).addBridgeVLANs(
            index: 3, [BridgeVLAN(100, pvid: true, untagged: true), BridgeVLAN(first: 10, last: 12)],
            bridgeSelf: true)
        // RTM_SETLINK (19), NLM_F_REQUEST|NLM_F_ACK; ifinfomsg {AF_BRIDGE = 7, index 3};
        // IFLA_AF_SPEC (26) { IFLA_BRIDGE_FLAGS (0) = BRIDGE_FLAGS_SELF (2),
        //   IFLA_BRIDGE_VLAN_INFO (2) {PVID|UNTAGGED = 6, 100}, {RANGE_BEGIN = 8, 10}, {RANGE_END = 16, 12} }
        let expected = nlmsg(
            type: 19, flags: 5, sequence: 1, port: 0,
            [7, 0, 0, 0] + le32(3) + le32(0) + le32(0)
                + nested(
                    26,
                    attribute(0, le16(2)) + attribute(2, le16(6) + le16(100))
                        + attribute(2, le16(8) + le16(10)) + attribute(2, le16(16) + le16(12))))
        #expect(transport.sent == [expected])
    }

    @Test func kernelErrorCarriesErrnoAndExtendedAck() {
        let transport = RecordingTransport()
        transport.replies = [{ errorReply(-95, sequence: $0, port: 4242, message: "Unknown device type") }]
        let netlink = RouteNetlink(transport: transport)
        #expect(
            throws: NetlinkError(
                operation: "create link \"iv0\" (ipvlan)", errno: 95, extendedAck: "Unknown device type")
        ) {
            try netlink.createLink(LinkRequest(name: "iv0", kind: .ipvlan(mode: .l2), parentIndex: 2))
        }
    }

    @Test func staleRepliesAreSkipped() throws {
        let transport = RecordingTransport()
        // One datagram with a reply for an older request, another for a different port, then ours.
        transport.replies = [
            {
                errorReply(-17, sequence: $0 &- 1, port: 4242) + errorReply(-17, sequence: $0, port: 1)
                    + errorReply(0, sequence: $0, port: 4242)
            }
        ]
        try RouteNetlink(transport: transport, firstSequence: 100).setLink(index: 4, up: true)
        // RTM_SETLINK (19), ifi_flags = ifi_change = IFF_UP.
        #expect(
            transport.sent == [
                nlmsg(type: 19, flags: 5, sequence: 100, port: 0, [0, 0, 0, 0] + le32(4) + le32(1) + le32(1))
            ])
    }

    @Test func getLinkParsesTheReplyAndMissingIsNil() throws {
        let transport = RecordingTransport()
        let linkReply: (UInt32) -> [UInt8] = { sequence in
            let body =
                [0, 0, 1, 0] + le32(5) + le32(0x1043) + le32(0)
                + attribute(3, Array("eth7".utf8) + [0])
                + attribute(4, le32(9000))
                + attribute(1, [0x02, 0, 0, 0, 0, 0x0a])
                + attribute(18, attribute(1, Array("macvlan".utf8) + [0]) + attribute(2, attribute(1, le32(1))))
            return nlmsg(type: 16, flags: 0, sequence: sequence, port: 4242, body)
                + errorReply(0, sequence: sequence, port: 4242)
        }
        transport.replies = [linkReply, { errorReply(-19, sequence: $0, port: 4242) }]
        let netlink = RouteNetlink(transport: transport)
        let link = try #require(try netlink.link(named: "eth7"))
        #expect(link.index == 5 && link.name == "eth7" && link.mtu == 9000 && link.isUp)
        #expect(link.address?.description == "02:00:00:00:00:0a")
        #expect(link.kind == "macvlan" && link.macvlanMode == .private)
        #expect(try netlink.link(named: "nope") == nil)
    }

    @Test func malformedRepliesDoNotCrash() {
        // Lengths that lie: too small, past the end, zero.
        for datagram: [UInt8] in [
            [], [1, 2, 3], le32(8) + [0, 0, 0, 0], le32(200) + [UInt8](repeating: 0, count: 20),
            le32(0) + [UInt8](repeating: 0, count: 12),
        ] {
            _ = NetlinkMessage.split(datagram)
        }
        _ = NetlinkAttributes([0, 0, 1, 0, 255, 255])
        _ = NetlinkAttributes(le16(300) + le16(1) + [1, 2])
        #expect(NetlinkAttributes(le16(3) + le16(1)).all.isEmpty)
        #expect(NetlinkAttributes([1, 2, 3], from: 8).all.isEmpty, "a start past the end")
    }

    /// A nested attribute is read within its parent's value only: an inner length that runs
    /// past the parent ends the walk there, even where the buffer goes on.
    @Test func nestedAttributesStayInsideTheirParent() {
        let inner = le16(8) + le16(1) + le32(7) + le16(12) + le16(2) + le32(9)  // the second claims 12
        let outer = le16(UInt16(4 + inner.count)) + le16(5) + inner + le16(8) + le16(6) + le32(0xABCD)
        let attributes = NetlinkAttributes(outer)
        #expect(attributes.u32(6) == 0xABCD)
        let nested = attributes.nested(5)
        #expect(nested?.u32(1) == 7)
        #expect(nested?.all.count == 1, "the attribute running past its parent is not read")
        #expect(nested?.u32(6) == nil && nested?[2] == nil)
        #expect(attributes.u8(6) == 0xCD && attributes.u16(6) == 0xABCD && attributes[6] == le32(0xABCD))
    }
}
