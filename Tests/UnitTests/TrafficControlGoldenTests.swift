import Netlink
import Testing

/// bandwidth's traffic-control messages, byte for byte (the kernel's uapi layouts written out
/// by hand: tcmsg, tc_tbf_qopt, tc_u32_sel + one key, tc_mirred), root-free.
@Suite struct TrafficControlGoldenTests {
    /// tcmsg: family, two pad bytes, ifindex, handle, parent, info.
    static func tcmsg(index: UInt32, handle: UInt32, parent: UInt32, info: UInt32 = 0) -> [UInt8] {
        [0, 0, 0, 0] + le32(index) + le32(handle) + le32(parent) + le32(info)
    }

    static func performing(_ body: (RouteNetlink) throws -> Void) throws -> [UInt8] {
        let transport = RecordingTransport()
        transport.replies = [{ errorReply(0, sequence: $0, port: 4242) }]
        try body(RouteNetlink(transport: transport))
        return try #require(transport.sent.first)
    }

    /// RTM_NEWQDISC (36), NLM_F_REQUEST|ACK|EXCL|CREATE: ingress, handle ffff:, parent
    /// TC_H_INGRESS (ffff:fff1).
    @Test func ingressQdisc() throws {
        let sent = try Self.performing { try $0.addIngressQdisc(index: 7) }
        let expected = nlmsg(
            type: 36, flags: 0x605, sequence: 1, port: 0,
            Self.tcmsg(index: 7, handle: 0xFFFF_0000, parent: 0xFFFF_FFF1)
                + attribute(1, Array("ingress".utf8) + [0]))  // TCA_KIND
        #expect(sent == expected)
    }

    /// A TBF root qdisc (handle 1:, parent TC_H_ROOT): TCA_OPTIONS { TCA_TBF_PARMS =
    /// tc_tbf_qopt { rate (tc_ratespec: the rate at offset 8), peakrate, limit, buffer, mtu } };
    /// above 32 bits the rate goes in TCA_TBF_RATE64 too.
    @Test func tokenBucket() throws {
        let sent = try Self.performing { try $0.addTokenBucket(index: 7, rate: 125_000, limit: 1000, buffer: 2000) }
        let ratespec = [UInt8](repeating: 0, count: 8) + le32(125_000)
        let qopt = ratespec + [UInt8](repeating: 0, count: 12) + le32(1000) + le32(2000) + le32(0)
        let expected = nlmsg(
            type: 36, flags: 0x605, sequence: 1, port: 0,
            Self.tcmsg(index: 7, handle: 0x1_0000, parent: 0xFFFF_FFFF)
                + attribute(1, Array("tbf".utf8) + [0])
                + nested(2, attribute(1, qopt)))  // TCA_OPTIONS { TCA_TBF_PARMS }
        #expect(sent == expected)

        let fast = try Self.performing { try $0.addTokenBucket(index: 7, rate: 1 << 33, limit: 1000, buffer: 2000) }
        let capped = [UInt8](repeating: 0, count: 8) + le32(UInt32.max)
        let fastOptions =
            attribute(1, capped + [UInt8](repeating: 0, count: 12) + le32(1000) + le32(2000) + le32(0))
            + attribute(4, le32(0) + le32(2))  // TCA_TBF_RATE64: 1 << 33 as a little-endian u64
        #expect(fast.suffix(fastOptions.count + 4) == ArraySlice(nested(2, fastOptions)))
    }

    /// RTM_NEWTFILTER (44) on ingress: u32, priority 1, ETH_P_ALL (0x0003, network order) in
    /// tcm_info, TCA_OPTIONS { TCA_U32_CLASSID 1:1, TCA_U32_SEL (terminal, one key matching
    /// all), TCA_U32_ACT { 1 { TCA_ACT_KIND "mirred", TCA_ACT_OPTIONS { TCA_MIRRED_PARMS:
    /// action stolen (4), eaction egress redirect (1), ifindex } } } }.
    @Test func redirectFilter() throws {
        let sent = try Self.performing { try $0.addRedirectFilter(index: 7, to: 9) }
        let selector = [1, 0, 1, 0] + [UInt8](repeating: 0, count: 12) + [UInt8](repeating: 0, count: 16)
        let mirred = le32(0) + le32(0) + le32(4) + le32(0) + le32(0) + le32(1) + le32(9)
        let action = nested(
            1,
            attribute(1, Array("mirred".utf8) + [0])  // TCA_ACT_KIND
                + nested(2, attribute(2, mirred)))  // TCA_ACT_OPTIONS { TCA_MIRRED_PARMS }
        let expected = nlmsg(
            type: 44, flags: 0x605, sequence: 1, port: 0,
            Self.tcmsg(index: 7, handle: 0, parent: 0xFFFF_0000, info: 1 << 16 | 0x0300)
                + attribute(1, Array("u32".utf8) + [0])
                + nested(
                    2,
                    attribute(1, le32(0x1_0001))  // TCA_U32_CLASSID
                        + attribute(5, selector)  // TCA_U32_SEL
                        + nested(7, action)))  // TCA_U32_ACT
        #expect(sent == expected)
    }
}
