import Addressing
import DHCP
import Testing

/// What a (rogue) server sends is checked before it becomes a lease or a CNI result: DNS values
/// must be domain names (a newline would inject resolv.conf lines), and leased addresses must
/// be ones a host can hold.
struct DHCPValueCheckTests {
    let mac: [UInt8] = [0x02, 0, 0, 0, 0, 7]

    func ack(yiaddr: [UInt8], options extra: [UInt8] = []) throws -> DHCPLease? {
        let options: [UInt8] = [54, 4, 10, 77, 0, 1] + [1, 4, 255, 255, 255, 0] + extra
        return DHCPLease(
            ack: try DHCPMessage(decoding: serverReply(type: 5, xid: 1, yiaddr: yiaddr, mac: mac, options: options)))
    }

    @Test func injectedDNSValuesAreDroppedAndNamed() throws {
        let evil = Array("evil.example\nnameserver 6.6.6.6\noptions ndots:99".utf8)
        // 119: "good.example", then "bad name" (a space), then "x\n" (a newline).
        let search: [UInt8] =
            [4] + Array("good".utf8) + [7] + Array("example".utf8) + [0] + [8] + Array("bad name".utf8) + [0]
            + [2] + Array("x\n".utf8) + [0]
        let lease = try #require(
            try ack(
                yiaddr: [10, 77, 0, 9],
                options: [15, UInt8(evil.count)] + evil + [119, UInt8(search.count)] + search))
        #expect(lease.domainName == nil)
        #expect(lease.searchDomains == ["good.example"])
        #expect(
            lease.refusedValues == [
                #"domain name "evil.example\nnameserver 6.6.6.6\noptions ndots:99""#, #"search domain "bad name""#,
                #"search domain "x\n""#,
            ])
        let fine = try #require(try ack(yiaddr: [10, 77, 0, 9], options: [15, 9] + Array("corp.lab.".utf8)))
        #expect(fine.domainName == "corp.lab." && fine.refusedValues.isEmpty)
    }

    @Test func domainNameSyntax() {
        for name in ["example", "a.b-c.d", "_sip._tcp.example.com", "1x.example.", String(repeating: "a", count: 63)] {
            #expect(DomainName.isValid(name), "\(name)")
        }
        for name in [
            "", ".", "a..b", "-a.b", "a-.b", "a b", "a\tb", "a;b", "é.example", String(repeating: "a", count: 64),
            String(repeating: "a.", count: 127) + "ab",
        ] {
            #expect(!DomainName.isValid(name), "\(name)")
        }
    }

    @Test func yiaddrsNoHostCanHoldAreNoLease() throws {
        for bad: [UInt8] in [[0, 0, 0, 0], [255, 255, 255, 255], [127, 0, 0, 1], [224, 0, 0, 5], [240, 1, 2, 3]] {
            #expect(try ack(yiaddr: bad) == nil, "\(bad)")
        }
        #expect(try ack(yiaddr: [10, 77, 0, 200]) != nil)
    }

    @Test func dhcpv6AddressesNoHostCanHoldAreNoLease() throws {
        let identity = DHCPv6ClientIdentity(containerID: "c1", network: "net6", ifName: "eth0")
        func reply(_ address: String, domains: [UInt8] = []) throws -> DHCPv6Lease? {
            var options: [(UInt16, [UInt8])] = [
                (1, identity.duid), (2, [0, 1, 0, 1, 1, 2, 3, 4, 2, 0, 0, 0, 0, 1]),
                (3, v6IA(iaid: identity.iaid, t1: 1800, t2: 2880, address: address, preferred: 3600, valid: 7200)),
            ]
            if !domains.isEmpty { options.append((24, domains)) }
            return DHCPv6Lease(
                reply: try DHCPv6Message(decoding: v6ServerMessage(type: 7, xid: 1, options)), iaid: identity.iaid)
        }
        for bad in ["fe80::1", "::ffff:1.2.3.4", "::1", "::", "ff02::1", "::10.0.0.1"] {
            #expect(try reply(bad) == nil, "\(bad)")
        }
        #expect(try reply("2001:db8::5")?.address.description == "2001:db8::5")
        #expect(try reply("fd00:77::5") != nil)
        let list: [UInt8] = [3] + Array("lab".utf8) + [0] + [5] + Array("a\"b c".utf8) + [0]
        let lease = try #require(try reply("fd00:77::5", domains: list))
        #expect(lease.searchDomains == ["lab"] && lease.refusedValues == [#"domain list entry "a\"b c""#])
    }
}
