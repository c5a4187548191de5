import Addressing
import DHCP
import TestSupport
import Testing

/// A server's message laid out byte by byte as RFC 8415 8 and 21 describe it (not with our
/// encoder): type, transaction id, then options of code, length and data.
func v6ServerMessage(type: UInt8, xid: UInt32, _ options: [(UInt16, [UInt8])]) -> [UInt8] {
    var bytes = [type, UInt8(xid >> 16 & 0xff), UInt8(xid >> 8 & 0xff), UInt8(xid & 0xff)]
    for (code, data) in options { bytes += v6Option(code, data) }
    return bytes
}

func v6Option(_ code: UInt16, _ data: [UInt8]) -> [UInt8] {
    [UInt8(code >> 8), UInt8(code & 0xff), UInt8(data.count >> 8), UInt8(data.count & 0xff)] + data
}

func be32(_ value: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8(value >> $0 & 0xff) } }

/// An IA_NA with one IA Address (and, if given, a status inside the IA).
func v6IA(
    iaid: UInt32, t1: UInt32, t2: UInt32, address: String?, preferred: UInt32, valid: UInt32, status: UInt16? = nil
)
    -> [UInt8]
{
    var data = be32(iaid) + be32(t1) + be32(t2)
    if let address, let ip = IPAddress(address) { data += v6Option(5, ip.bytes + be32(preferred) + be32(valid)) }
    if let status { data += v6Option(13, [UInt8(status >> 8), UInt8(status & 0xff)] + Array("why".utf8)) }
    return data
}

@Suite struct DHCPv6Tests {
    let identity = DHCPv6ClientIdentity(containerID: "c1", network: "net6", ifName: "eth0")
    let serverDUID: [UInt8] = [0, 1, 0, 1, 0x2a, 0x3b, 0x4c, 0x5d, 2, 0, 0, 0, 0, 1]

    func client() -> DHCPv6Client { DHCPv6Client(identity: identity, random: { 0x00ab_cdef }) }

    func sent(_ actions: [DHCPv6Action]) throws -> DHCPv6Message {
        guard case .send(let message) = try #require(actions.first) else {
            throw TestFailure("expected a message, got \(actions)")
        }
        return message
    }

    func reply(
        _ type: UInt8, t1: UInt32 = 1800, t2: UInt32 = 2880, address: String? = "fd00:77::1234",
        preferred: UInt32 = 3600, valid: UInt32 = 7200, rapid: Bool = false, status: UInt16? = nil,
        iaStatus: UInt16? = nil, clientID: [UInt8]? = nil
    ) throws -> DHCPv6Message {
        var options: [(UInt16, [UInt8])] = [(1, clientID ?? identity.duid), (2, serverDUID)]
        options.append(
            (
                3,
                v6IA(
                    iaid: identity.iaid, t1: t1, t2: t2, address: address, preferred: preferred, valid: valid,
                    status: iaStatus)
            ))
        options.append((23, IPAddress("fd00:77::53")!.bytes + IPAddress("fd00:77::54")!.bytes))
        options.append(
            (24, [4] + Array("corp".utf8) + [7] + Array("example".utf8) + [0] + [3] + Array("lab".utf8) + [0]))
        if rapid { options.append((14, [])) }
        if let status { options.append((13, [UInt8(status >> 8), UInt8(status & 0xff)])) }
        return try DHCPv6Message(decoding: v6ServerMessage(type: type, xid: 0xabcdef, options))
    }

    /// SOLICIT as RFC 8415 lays it out: type 1, the 24-bit transaction id, Client Identifier
    /// (our DUID-UUID), Elapsed Time 0, IA_NA with our IAID and T1 = T2 = 0, an Option Request
    /// for DNS servers (23) and the domain list (24), and Rapid Commit.
    @Test func solicitBytes() throws {
        var client = client()
        let solicit = try sent(client.start(now: 5)).encoded
        var expected: [UInt8] = [1, 0xab, 0xcd, 0xef]
        expected += v6Option(1, identity.duid) + v6Option(8, [0, 0])
        expected += v6Option(3, be32(identity.iaid) + be32(0) + be32(0))
        expected += v6Option(6, [0, 23, 0, 24]) + v6Option(14, [])
        #expect(solicit == expected)
        #expect(identity.duid.count == 18 && identity.duid.prefix(2) == [0, 4], "DUID-UUID")
        #expect(identity.duid[8] >> 4 == 4 && identity.duid[10] >> 6 == 2, "UUID version and variant bits")
    }

    /// One DUID and IAID per attachment, stable (derived, not random): two containers that
    /// share a MAC (ipvlan) differ, as do two interfaces of one container.
    @Test func identityIsPerAttachmentAndStable() {
        let again = DHCPv6ClientIdentity(containerID: "c1", network: "net6", ifName: "eth0")
        let other = DHCPv6ClientIdentity(containerID: "c2", network: "net6", ifName: "eth0")
        let net1 = DHCPv6ClientIdentity(containerID: "c1", network: "net6", ifName: "net1")
        #expect(again == identity)
        #expect(Set([identity.duid, other.duid, net1.duid]).count == 3)
        #expect(Set([identity.iaid, other.iaid, net1.iaid]).count == 3)
    }

    /// Rapid Commit: a REPLY carrying option 14 binds from SOLICITING, with the address, the
    /// IA's T1/T2, DNS servers and the search list; a REPLY without it there is ignored.
    @Test func rapidCommitBindsFromSoliciting() throws {
        var client = client()
        _ = client.start(now: 5)
        #expect(client.receive(try reply(7), now: 5.01).isEmpty, "a REPLY without Rapid Commit answers no SOLICIT")
        let actions = client.receive(try reply(7, rapid: true), now: 5.02)
        guard case .bound(let lease) = try #require(actions.first) else {
            Issue.record("not bound: \(actions)")
            return
        }
        #expect(lease.address == IPAddress("fd00:77::1234"))
        #expect(lease.renewalSeconds == 1800 && lease.rebindingSeconds == 2880 && lease.validLifetime == 7200)
        #expect(lease.dnsServers == [IPAddress("fd00:77::53")!, IPAddress("fd00:77::54")!])
        #expect(lease.searchDomains == ["corp.example", "lab"])
        #expect(client.state == .bound && client.nextDeadline == 5 + 1800)
    }

    /// ADVERTISE -> REQUEST (the server's identifier and the advertised address) -> REPLY.
    @Test func advertiseRequestReply() throws {
        var client = client()
        _ = client.start(now: 1)
        let request = try sent(client.receive(try reply(2), now: 1.5))
        #expect(request.type == .request)
        #expect(request.option(2) == serverDUID)
        let ia = try DHCPv6IdentityAssociation(decoding: try #require(request.option(3)))
        #expect(ia.iaid == identity.iaid && ia.addresses.map(\.address) == [IPAddress("fd00:77::1234")!])
        #expect(request.option(8) == [0, 50], "elapsed time in hundredths since the SOLICIT")
        guard case .bound = try #require(client.receive(try reply(7), now: 1.6).first) else {
            Issue.record("REPLY did not bind")
            return
        }
    }

    /// Messages for another client (Client Identifier differs or is missing) or another
    /// transaction are ignored; an ADVERTISE with NoAddrsAvail is no offer.
    @Test func foreignAndEmptyMessagesAreIgnored() throws {
        var client = client()
        _ = client.start(now: 1)
        #expect(client.receive(try reply(7, rapid: true, clientID: [0, 4, 1, 2]), now: 1.1).isEmpty)
        let other = try DHCPv6Message(
            decoding: v6ServerMessage(type: 7, xid: 0x123456, [(1, identity.duid), (2, serverDUID), (14, [])]))
        #expect(client.receive(other, now: 1.1).isEmpty)
        #expect(
            client.receive(try reply(2, address: nil, iaStatus: DHCPv6Status.noAddressesAvailable), now: 1.2).isEmpty)
        #expect(client.state == .soliciting)
    }

    /// A rogue or broken server: valid lifetime 0 is no address; 5 s is raised to 60 s, T1 = T2
    /// = 0 become 0.5 and 0.8 of the preferred lifetime (at least a minute), a T1 of 1 s is
    /// 10 s, a T2 before T1 is replaced, a preferred lifetime above the valid one discards the
    /// address (RFC 8415 21.6).
    @Test func rogueLifetimesAreMadeSane() throws {
        #expect(DHCPv6Lease(reply: try reply(7, valid: 0), iaid: identity.iaid) == nil)
        let short = try #require(
            DHCPv6Lease(reply: try reply(7, t1: 0, t2: 0, preferred: 5, valid: 5), iaid: identity.iaid))
        #expect(short.validLifetime == 60 && short.preferredLifetime == 5)
        #expect(short.renewalSeconds == 30 && short.rebindingSeconds == 48, "\(short)")
        let eager = try #require(DHCPv6Lease(reply: try reply(7, t1: 1, t2: 2), iaid: identity.iaid))
        #expect(eager.renewalSeconds == 10 && eager.rebindingSeconds > 10, "T1 of 1 s: \(eager)")
        let zero = try #require(DHCPv6Lease(reply: try reply(7, t1: 0, t2: 0), iaid: identity.iaid))
        #expect(zero.renewalSeconds == 1800 && zero.rebindingSeconds == 2880)
        let backwards = try #require(DHCPv6Lease(reply: try reply(7, t1: 3000, t2: 100), iaid: identity.iaid))
        #expect(backwards.renewalSeconds == 3000 && backwards.rebindingSeconds > 3000)
        #expect(DHCPv6Lease(reply: try reply(7, preferred: 9000, valid: 7200), iaid: identity.iaid) == nil)
        // A renewal timer of 0 cannot make the client send without pause: at least 10 s apart.
        var client = client()
        _ = client.start(now: 0)
        _ = client.receive(try reply(7, t1: 0, t2: 0, preferred: 5, valid: 5, rapid: true), now: 0)
        var sent = 0
        var now = 0.0
        while now < 59 {
            now += 0.01
            sent += client.tick(now: now).count
        }
        #expect(sent <= 8, "\(sent) messages in 59 s")
    }

    /// T1: RENEW to the server that granted it (its identifier, the held address); T2: REBIND
    /// without a server identifier; a renewal the server refuses (NoBinding) keeps the address;
    /// the end of the valid lifetime loses it and starts over with a SOLICIT.
    @Test func renewRebindAndExpiry() throws {
        var client = client()
        _ = client.start(now: 0)
        _ = client.receive(try reply(7, t1: 100, t2: 160, preferred: 180, valid: 200, rapid: true), now: 0)
        #expect(client.tick(now: 99).isEmpty)
        let renew = try sent(client.tick(now: 100))
        #expect(renew.type == .renew && renew.option(2) == serverDUID)
        let refused = try reply(7, address: nil, iaStatus: DHCPv6Status.noBinding)
        var copy = client
        #expect(copy.receive(refused, now: 100.1).isEmpty)
        #expect(copy.lease?.address == IPAddress("fd00:77::1234"), "the valid lease's address is kept")
        let rebind = try sent(client.tick(now: 160))
        #expect(rebind.type == .rebind && rebind.option(2) == nil)
        var last: [DHCPv6Action] = []
        var now = 160.0
        while now < 200 {
            now += 1
            last = client.tick(now: now)
            if last.contains(where: { if case .lost = $0 { true } else { false } }) { break }
        }
        guard case .lost = try #require(last.first) else {
            Issue.record("not lost at expiry: \(last)")
            return
        }
        #expect(try sent(Array(last.dropFirst())).type == .solicit)
    }

    /// RELEASE names the server and the held address; after a restart the resumed lease is
    /// confirmed (CONFIRM, no server identifier) and kept on Success, lost on NotOnLink.
    @Test func releaseAndConfirm() throws {
        var client = client()
        _ = client.start(now: 0)
        _ = client.receive(try reply(7, rapid: true), now: 0)
        let release = try #require(client.release())
        #expect(release.type == .release && release.option(2) == serverDUID)
        let held = try DHCPv6IdentityAssociation(decoding: try #require(release.option(3)))
        #expect(held.addresses.map(\.address) == [IPAddress("fd00:77::1234")!])
        let lease = try #require(client.lease)
        var resumed = DHCPv6Client(identity: identity, resuming: lease, boundAt: -100, random: { 0x00ab_cdef })
        let confirm = try sent(resumed.confirmAfterRestart(now: 0))
        #expect(confirm.type == .confirm && confirm.option(2) == nil)
        var kept = resumed
        #expect(kept.receive(try reply(7, address: nil, status: DHCPv6Status.success), now: 0.1).isEmpty)
        #expect(kept.state == .bound && kept.lease == lease)
        let actions = resumed.receive(try reply(7, address: nil, status: DHCPv6Status.notOnLink), now: 0.1)
        guard case .lost = try #require(actions.first) else {
            Issue.record("NotOnLink kept the lease: \(actions)")
            return
        }
    }

    /// The decoder refuses what is cut short and never traps on random bytes.
    @Test func decoderRefusesTruncationAndSurvivesNoise() throws {
        let good = try reply(7).encoded
        #expect(throws: DHCPv6Message.DecodingError.self) { try DHCPv6Message(decoding: good.dropLast(3)) }
        #expect(throws: DHCPv6Message.DecodingError.self) { try DHCPv6Message(decoding: [7, 0, 0]) }
        var generator = SeededGenerator(seed: 20_261_204)
        for _ in 0..<20000 {
            let count = Int.random(in: 0...120, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if !bytes.isEmpty { bytes[0] = UInt8.random(in: 1...11, using: &generator) }
            if let message = try? DHCPv6Message(decoding: bytes) {
                _ = DHCPv6Lease(reply: message, iaid: identity.iaid)
                _ = (message.dnsServers, message.domainList, message.status)
            }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
