import Addressing
import Testing

@testable import Nftables

/// The rule shapes the suite writes, compiled as `nft` 1.0 compiles the same text (the
/// expected expressions are what `nft --debug=netlink` printed for it on this machine).
@Suite struct NftablesRuleBodyTests {
    static func address(_ text: String) throws -> IPAddress { try #require(IPAddress(text)) }
    static func prefix(_ text: String) throws -> IPPrefix { try #require(IPPrefix(text)) }

    /// `ip saddr 10.1.2.3 ip daddr != 10.1.2.0/24 masquerade` in an inet table: one nfproto
    /// check, the prefix cut to its 3 whole bytes.
    @Test func masqueradeRuleInAnInetTable() throws {
        var body = NftablesRuleBody(in: .inet)
        body.address(.source, try Self.address("10.1.2.3"))
        body.address(.destination, equal: false, try Self.prefix("10.1.2.0/24"))
        body.masquerade()
        #expect(
            body.expressions == [
                .meta(key: 15, into: .one), .compare(equal: true, register: .one, data: [2]),
                .payload(base: .network, offset: 12, length: 4, into: .one),
                .compare(equal: true, register: .one, data: [10, 1, 2, 3]),
                .payload(base: .network, offset: 16, length: 3, into: .one),
                .compare(equal: false, register: .one, data: [10, 1, 2]),
                .masquerade,
            ])
    }

    /// `ip daddr 224.0.0.0/4` (not on a byte: whole address, mask) and `ip6 daddr ff00::/8`.
    @Test func prefixesOffAndOnAByte() throws {
        var four = NftablesRuleBody(in: .inet)
        four.address(.destination, try Self.prefix("224.0.0.0/4"))
        #expect(
            Array(four.expressions.dropFirst(2)) == [
                .payload(base: .network, offset: 16, length: 4, into: .one),
                .bitwise(register: .one, mask: [0xF0, 0, 0, 0], xor: [0, 0, 0, 0]),
                .compare(equal: true, register: .one, data: [0xE0, 0, 0, 0]),
            ])
        var six = NftablesRuleBody(in: .inet)
        six.address(.destination, try Self.prefix("ff00::/8"))
        #expect(
            six.expressions == [
                .meta(key: 15, into: .one), .compare(equal: true, register: .one, data: [10]),
                .payload(base: .network, offset: 24, length: 1, into: .one),
                .compare(equal: true, register: .one, data: [0xFF]),
            ])
    }

    /// portmap's `ip daddr 192.168.1.1 tcp dport 8080 dnat to 10.1.2.3:80` in an ip table: no
    /// nfproto, l4proto before the port, address and port in registers 1 and 2.
    @Test func hostPortRuleInAnIpTable() throws {
        var body = NftablesRuleBody(in: .ip)
        body.address(.destination, try Self.address("192.168.1.1"))
        body.destinationPort(.tcp, 8080)
        body.destinationNAT(to: try Self.address("10.1.2.3"), port: 80)
        #expect(
            body.expressions == [
                .payload(base: .network, offset: 16, length: 4, into: .one),
                .compare(equal: true, register: .one, data: [192, 168, 1, 1]),
                .meta(key: 16, into: .one), .compare(equal: true, register: .one, data: [6]),
                .payload(base: .transport, offset: 2, length: 2, into: .one),
                .compare(equal: true, register: .one, data: [0x1F, 0x90]),
                .immediate(.one, data: [10, 1, 2, 3]), .immediate(.two, data: [0, 80]),
                .destinationNAT(family: .ip, address: .one, port: .two),
            ])
    }

    /// `iifname "veth1234"`: 16 bytes, zero-padded; `fib daddr type local`: RTN_LOCAL (2).
    @Test func interfaceNameAndLocalDestination() {
        var body = NftablesRuleBody(in: .bridge)
        body.interfaceName(input: true, "veth1234")
        body.destinationIsLocal()
        #expect(
            body.expressions == [
                .meta(key: 6, into: .one),
                .compare(equal: true, register: .one, data: Array("veth1234".utf8) + [UInt8](repeating: 0, count: 8)),
                .fibDestinationType(into: .one), .compare(equal: true, register: .one, data: [2, 0, 0, 0]),
            ])
    }

    /// portmap's nftables conditions: the words nft takes for addresses and interfaces compile;
    /// anything else is refused with the words named.
    @Test func conditionsCompileOrNameWhatIsNotUnderstood() throws {
        var body = NftablesRuleBody(in: .ip)
        try body.appendConditions(["ip", "saddr", "!=", "10.0.0.0/8", "iifname \"eth1\""], family: .v4)
        var expected = NftablesRuleBody(in: .ip)
        expected.address(.source, equal: false, try Self.prefix("10.0.0.0/8"))
        expected.interfaceName(input: true, "eth1")
        #expect(body.expressions == expected.expressions)

        for (words, family, fragment) in [
            (["tcp", "dport", "80"], IPAddress.Family.v4, "tcp dport 80"),
            (["ip6", "saddr", "fd00::1"], .v4, "ip6 does not match"),
            (["ip", "saddr", "fd00::1"], .v4, "is not an IPv4 address"),
            (["ip", "saddr"], .v4, "address is missing"),
            (["iifname", "eth*"], .v4, "no wildcard"),
            (["meta", "mark", "1"], .v4, "only meta iifname"),
        ] {
            var rejected = NftablesRuleBody(in: family == .v4 ? .ip : .ip6)
            let error = #expect(throws: NftablesConditionError.self) {
                try rejected.appendConditions(words, family: family)
            }
            #expect(error?.description.contains(fragment) == true, "\(words): \(String(describing: error))")
        }
    }

    /// A comment is one user-data TLV of type 0, NUL-terminated, as nft writes it.
    @Test func commentUserData() {
        #expect(Nftables.commentUserData("cid") == [0, 4, 0x63, 0x69, 0x64, 0])
        #expect(userDataComment([0, 4, 0x63, 0x69, 0x64, 0]) == "cid")
        #expect(userDataComment([1, 1, 7, 0, 2, 0x61, 0]) == "a")
        #expect(userDataComment([0, 9, 0x61]) == nil)
    }

    /// The NFT_MSG_NEWRULE message of `add rule inet t c ip saddr 10.1.2.3 ip daddr !=
    /// 10.1.2.0/24 masquerade comment "x"` is, after its nlmsghdr, byte for byte what nft
    /// 1.0.6 sent for that line (reconstructed from `nft --debug=mnl` on this machine):
    /// nfgenmsg, table, chain, the expressions' nests, the user data.
    @Test func aRuleMessageIsTheBytesNftSends() throws {
        var body = NftablesRuleBody(in: .inet)
        body.address(.source, try Self.address("10.1.2.3"))
        body.address(.destination, equal: false, try Self.prefix("10.1.2.0/24"))
        body.masquerade()
        let command = NftablesBatch.Command.addRule(NftablesRule(.inet, "t", "c", body.expressions, comment: "x"))
        let message = try #require(command.message(sequence: 7, acknowledged: false))
        let nft =
            "01000000060001007400000006000200630000002801048024000180090001006d6574610000000014000280080002000000000f"
            + "08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001000200"
            + "0000340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000000c08000400"
            + "000000042c00018008000100636d700020000280080001000000000108000200000000000c000380080001000a0102033400"
            + "01800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000001008000400000000032c"
            + "00018008000100636d700020000280080001000000000108000200000000010c000380070001000a01020014000180090001"
            + "006d61737100000000040002800800070000027800"
        #expect(message.count == 340)
        #expect(Array(message.dropFirst(16)).map { String(format2: $0) }.joined() == nft)
        // nlmsghdr: length, NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWRULE, NLM_F_REQUEST | CREATE | APPEND.
        #expect(Array(message.prefix(12)) == [84, 1, 0, 0, 0x06, 0x0a, 0x01, 0x0c, 7, 0, 0, 0])
    }
}

extension String {
    /// Two lowercase hex digits.
    fileprivate init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self = String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
