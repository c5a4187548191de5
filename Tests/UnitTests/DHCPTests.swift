import Addressing
import DHCP
import Testing

/// A server's reply, built field by field the way RFC 2131 lays it out (not with our encoder).
func serverReply(
    type: UInt8, xid: UInt32, yiaddr: [UInt8], mac: [UInt8], options: [UInt8], sname: [UInt8] = [], file: [UInt8] = []
) -> [UInt8] {
    var bytes: [UInt8] = [2, 1, 6, 0]
    bytes += (0..<4).map { UInt8((xid >> (24 - 8 * UInt32($0))) & 0xff) }
    bytes += [0, 0, 0x80, 0]  // secs, flags (broadcast)
    bytes += [0, 0, 0, 0] + yiaddr + [10, 77, 0, 1] + [0, 0, 0, 0]  // ciaddr yiaddr siaddr giaddr
    bytes += mac + [UInt8](repeating: 0, count: 16 - mac.count)
    bytes += sname + [UInt8](repeating: 0, count: 64 - sname.count)
    bytes += file + [UInt8](repeating: 0, count: 128 - file.count)
    bytes += [99, 130, 83, 99, 53, 1, type] + options + [255]
    return bytes
}

@Suite struct DHCPCodecTests {
    let mac: [UInt8] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02]

    /// Rapid Commit (RFC 4039): DISCOVER carries option 80; an ACK that carries it too binds
    /// the lease straight from SELECTING (two messages); an ACK without it there is ignored.
    @Test func rapidCommitBindsFromSelecting() throws {
        var client = DHCPClient(
            identity: DHCPClientIdentity(hardwareAddress: mac, containerID: "c1", network: "n", ifName: "eth0"),
            random: { 0x0102_0304 })
        guard case .send(let discover, _) = try #require(client.start(now: 10).first) else {
            Issue.record("no DISCOVER")
            return
        }
        #expect(discover.option(80) == [])
        let leaseOptions: [UInt8] = [54, 4, 10, 77, 0, 1] + [51, 4, 0, 0, 0x0e, 0x10] + [1, 4, 255, 255, 255, 0]
        let plainAck = try DHCPMessage(
            decoding: serverReply(type: 5, xid: 0x0102_0304, yiaddr: [10, 77, 0, 160], mac: mac, options: leaseOptions))
        #expect(client.receive(plainAck, now: 10.1).isEmpty, "an ACK without Rapid Commit is no answer to a DISCOVER")
        let rapidAck = try DHCPMessage(
            decoding: serverReply(
                type: 5, xid: 0x0102_0304, yiaddr: [10, 77, 0, 160], mac: mac,
                options: leaseOptions + [80, 0]))
        let actions = client.receive(rapidAck, now: 10.2)
        guard case .bound(let lease) = try #require(actions.first) else {
            Issue.record("not bound: \(actions)")
            return
        }
        #expect(lease.address.description == "10.77.0.160/24")
        #expect(client.boundAt == 10)
    }

    /// INIT-REBOOT of a resumed lease: a broadcast REQUEST with option 50 and neither server id
    /// nor ciaddr; an ACK renews the lease from that moment, a NAK loses it and DISCOVER begins,
    /// and silence keeps the lease on its own timers.
    @Test func initRebootConfirmsAResumedLease() throws {
        let identity = DHCPClientIdentity(hardwareAddress: mac, containerID: "c1", network: "n", ifName: "eth0")
        let leaseOptions: [UInt8] = [54, 4, 10, 77, 0, 1] + [51, 4, 0, 0, 0x0e, 0x10] + [1, 4, 255, 255, 255, 0]
        let granted = try #require(
            DHCPLease(
                ack: try DHCPMessage(
                    decoding: serverReply(
                        type: 5, xid: 1, yiaddr: [10, 77, 0, 170], mac: mac,
                        options: leaseOptions))))
        for answer in ["ack", "nak", "none"] {
            var client = DHCPClient(
                identity: identity, resuming: granted, boundAt: 50, now: 100, random: { 0x0a0b_0c0d })
            client.confirmAfterRestart(now: 100)
            #expect(client.state == .rebooting)
            guard case .send(let request, .broadcast) = try #require(client.tick(now: 100).first) else {
                Issue.record("no REQUEST")
                return
            }
            #expect(request.messageType == .request)
            #expect(request.option(50) == [10, 77, 0, 170])
            #expect(request.option(54) == nil && request.clientAddress.v4Value == 0)
            switch answer {
            case "ack":
                let ack = try DHCPMessage(
                    decoding: serverReply(
                        type: 5, xid: 0x0a0b_0c0d, yiaddr: [10, 77, 0, 170], mac: mac, options: leaseOptions))
                guard case .bound = try #require(client.receive(ack, now: 100.5).first) else {
                    Issue.record("not bound")
                    return
                }
                #expect(client.boundAt == 100 && client.state == .bound)
            case "nak":
                let nak = try DHCPMessage(
                    decoding: serverReply(
                        type: 6, xid: 0x0a0b_0c0d, yiaddr: [0, 0, 0, 0], mac: mac, options: [54, 4, 10, 77, 0, 1]))
                let actions = client.receive(nak, now: 100.5)
                guard case .lost = try #require(actions.first) else {
                    Issue.record("not lost: \(actions)")
                    return
                }
                #expect(client.state == .selecting)
            default:
                var now = 100.0
                while client.state == .rebooting, now < 200 {
                    now = client.nextDeadline ?? 200
                    _ = client.tick(now: now)
                }
                #expect(client.state == .bound, "\(client.state)")
                #expect(client.nextDeadline == 50 + Double(granted.renewalSeconds), "the lease keeps its own timers")
            }
        }
    }

    /// The broadcast flag is off unless asked for (the reference's default), on when asked.
    @Test func broadcastFlagOnlyWhenAsked() throws {
        for broadcast in [false, true] {
            var client = DHCPClient(
                identity: DHCPClientIdentity(
                    hardwareAddress: mac, containerID: "c1", network: "n", ifName: "eth0",
                    broadcast: broadcast), random: { 1 })
            guard case .send(let message, _) = try #require(client.start(now: 0).first) else {
                Issue.record("no DISCOVER")
                return
            }
            #expect(message.encoded()[10] == (broadcast ? 0x80 : 0))
        }
    }

    /// A client identifier among the provided options replaces ours, once, in every message.
    @Test func providedClientIdentifierReplacesOurs() throws {
        let identity = DHCPClientIdentity(
            hardwareAddress: mac, containerID: "c1", network: "n", ifName: "eth0",
            extraOptions: [(code: 61, data: Array("mine".utf8)), (code: 60, data: Array("vci".utf8))])
        #expect(identity.clientIdentifier == Array("mine".utf8))
        #expect(identity.extraOptions.map(\.code) == [60])
        var client = DHCPClient(identity: identity, random: { 1 })
        guard case .send(let message, _) = try #require(client.start(now: 0).first) else {
            Issue.record("no DISCOVER")
            return
        }
        #expect(message.option(61) == Array("mine".utf8))
    }

    /// Replies read from a packet socket: the UDP payload of an IPv4 datagram to port 68 only.
    @Test func packetSocketPayloads() {
        let payload: [UInt8] = [1, 2, 3, 4]
        let udp: [UInt8] = [0, 67, 0, 68, 0, 12, 0, 0] + payload
        let ip: [UInt8] = [0x45, 0, 0, 32, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 77, 0, 1, 10, 77, 0, 150] + udp
        #expect(DHCPPacket.payload(ofIPv4: ip) == payload)
        var otherPort = ip
        otherPort[23] = 69
        #expect(DHCPPacket.payload(ofIPv4: otherPort) == nil)
        var tcp = ip
        tcp[9] = 6
        #expect(DHCPPacket.payload(ofIPv4: tcp) == nil)
        var fragment = ip
        fragment[6] = 0x20
        #expect(DHCPPacket.payload(ofIPv4: fragment) == nil)
        var lying = ip
        lying[3] = 200
        #expect(DHCPPacket.payload(ofIPv4: lying) == nil)
        var longUDP = ip
        longUDP[25] = 40
        #expect(DHCPPacket.payload(ofIPv4: longUDP) == nil)
        #expect(DHCPPacket.payload(ofIPv4: Array(ip.prefix(25))) == nil)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var mutated = ip
            for _ in 0..<3 {
                mutated[Int.random(in: 0..<mutated.count, using: &generator)] = UInt8.random(
                    in: 0...255, using: &generator)
            }
            _ = DHCPPacket.payload(ofIPv4: Array(mutated.prefix(Int.random(in: 0...mutated.count, using: &generator))))
        }
    }

    @Test func discoverOnTheWire() throws {
        var client = DHCPClient(
            identity: DHCPClientIdentity(
                hardwareAddress: mac, containerID: "c1", network: "n", ifName: "eth0",
                hostName: "web", parameterRequestList: [1, 3, 6], broadcast: true),
            random: { 0x0102_0304 })
        let actions = client.start(now: 100)
        guard case .send(let message, .broadcast) = try #require(actions.first) else {
            Issue.record("no broadcast DISCOVER")
            return
        }
        let bytes = message.encoded()
        #expect(bytes.count == 300)
        #expect(Array(bytes[0..<12]) == [1, 1, 6, 0, 1, 2, 3, 4, 0, 0, 0x80, 0])
        #expect(Array(bytes[12..<28]) == [UInt8](repeating: 0, count: 16))
        #expect(Array(bytes[28..<34]) == mac)
        #expect(Array(bytes[236..<240]) == [99, 130, 83, 99])
        let clientID: [UInt8] = [61, 10, 0] + Array("c1/n/eth0".utf8)
        let expectedOptions: [UInt8] =
            [53, 1, 1] + clientID + [57, 2, 0x05, 0xdc] + [12, 3] + Array("web".utf8) + [55, 3, 1, 3, 6] + [80, 0] + [
                255
            ]
        #expect(Array(bytes[240..<(240 + expectedOptions.count)]) == expectedOptions)
        #expect(bytes[(240 + expectedOptions.count)...].allSatisfy { $0 == 0 })
    }

    /// A rogue or broken server: an MTU below 576 is ignored, a lease of 0 is a minute, and
    /// T1/T2 out of order (0, past the lease, T2 before T1) take the RFC 2131 defaults.
    @Test(
        arguments: [
            // (MTU, lease, T1, T2) sent -> (MTU, lease, T1, T2) taken
            (
                [0, 68], 0 as UInt32, 0 as UInt32?, nil as UInt32?, nil as UInt16?, 60 as UInt32, 30 as UInt32,
                52 as UInt32
            ),
            ([5, 0x78], 3600, 0, 0, 1400, 3600, 1800, 3150),
            ([2, 0x3f], 3600, 4000, 100, nil, 3600, 1800, 3150),
            ([2, 0x40], 120, 4, 8, 576, 120, 4, 8),
            ([2, 0x40], 1, 1, 2, 576, 60, 1, 2),
            ([2, 0x40], 120, 100, 50, 576, 120, 100, 105),
        ] as [([UInt8], UInt32, UInt32?, UInt32?, UInt16?, UInt32, UInt32, UInt32)])
    func aRogueServersValuesAreKeptSane(
        _ mtu: [UInt8], _ lease: UInt32, _ t1: UInt32?, _ t2: UInt32?, _ takenMTU: UInt16?, _ takenLease: UInt32,
        _ takenT1: UInt32, _ takenT2: UInt32
    ) throws {
        func be(_ value: UInt32) -> [UInt8] {
            [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
        }
        var options: [UInt8] =
            [54, 4, 10, 77, 0, 1] + [51, 4] + be(lease) + [1, 4, 255, 255, 255, 0] + [26, 2] + mtu
        if let t1 { options += [58, 4] + be(t1) }
        if let t2 { options += [59, 4] + be(t2) }
        let message = try DHCPMessage(
            decoding: serverReply(type: 5, xid: 7, yiaddr: [10, 77, 0, 150], mac: mac, options: options))
        let taken = try #require(DHCPLease(ack: message))
        #expect(taken.mtu == takenMTU)
        #expect(
            taken.leaseSeconds == takenLease && taken.renewalSeconds == takenT1 && taken.rebindingSeconds == takenT2)
    }

    @Test func ackWithClasslessRoutesDNSAndSearch() throws {
        // 121: 10.0.0.0/8 via 10.77.0.254, 0.0.0.0/0 via 10.77.0.1, 192.168.1.0/24 on-link.
        let routes: [UInt8] = [8, 10, 10, 77, 0, 254] + [0, 10, 77, 0, 1] + [24, 192, 168, 1, 0, 0, 0, 0]
        // 119: "eng.example.com", then "example.com" as a pointer to offset 4.
        let search: [UInt8] =
            [3] + Array("eng".utf8) + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0] + [0xC0, 4]
        let options: [UInt8] =
            [54, 4, 10, 77, 0, 1] + [51, 4, 0, 0, 0x0e, 0x10] + [1, 4, 255, 255, 255, 0]
            + [3, 4, 10, 77, 0, 99] + [6, 8, 10, 77, 0, 53, 1, 1, 1, 1] + [15, 7] + Array("example".utf8)
            + [121, UInt8(routes.count)] + routes + [119, UInt8(search.count)] + search + [26, 2, 0x05, 0x78]
        let message = try DHCPMessage(
            decoding: serverReply(type: 5, xid: 7, yiaddr: [10, 77, 0, 150], mac: mac, options: options))
        #expect(message.messageType == .ack)
        let lease = try #require(DHCPLease(ack: message))
        #expect(lease.address.description == "10.77.0.150/24")
        #expect(lease.serverIdentifier.description == "10.77.0.1")
        #expect(lease.leaseSeconds == 3600 && lease.renewalSeconds == 1800 && lease.rebindingSeconds == 3150)
        #expect(lease.dnsServers.map(\.description) == ["10.77.0.53", "1.1.1.1"])
        #expect(lease.domainName == "example")
        #expect(lease.searchDomains == ["eng.example.com", "example.com"])
        #expect(lease.mtu == 1400)
        // Option 121 wins over option 3: the router 10.77.0.99 gives no default route.
        #expect(
            lease.routes.map { "\($0.destination) via \($0.router)" } == [
                "10.0.0.0/8 via 10.77.0.254", "0.0.0.0/0 via 10.77.0.1", "192.168.1.0/24 via 0.0.0.0",
            ])
    }

    @Test func routerAndStaticRoutesWithout121() throws {
        let options: [UInt8] =
            [54, 4, 10, 77, 0, 1] + [1, 4, 255, 255, 0, 0] + [3, 4, 10, 77, 0, 1] + [
                33, 8, 172, 16, 0, 0, 10, 77, 0, 9,
            ]
        let lease = try #require(
            DHCPLease(
                ack: try DHCPMessage(
                    decoding: serverReply(type: 5, xid: 1, yiaddr: [10, 77, 3, 4], mac: mac, options: options))))
        #expect(lease.address.description == "10.77.3.4/16")
        #expect(
            lease.routes.map { "\($0.destination) via \($0.router)" } == [
                "172.16.0.0/16 via 10.77.0.9", "0.0.0.0/0 via 10.77.0.1",
            ])
    }

    @Test func overloadedFileAndSnameAndSplitOptions() throws {
        // Option 52 = 3: more options in `file`, then `sname`; the DNS option is split in two
        // instances (RFC 3396) and concatenated.
        let options: [UInt8] = [52, 1, 3] + [54, 4, 10, 77, 0, 1] + [6, 4, 10, 0, 0, 1]
        let file: [UInt8] = [6, 4, 10, 0, 0, 2] + [1, 4, 255, 255, 255, 0] + [255]
        let sname: [UInt8] = [15, 3] + Array("lab".utf8) + [255]
        let message = try DHCPMessage(
            decoding: serverReply(
                type: 5, xid: 1, yiaddr: [10, 77, 0, 7], mac: mac, options: options, sname: sname, file: file))
        let lease = try #require(DHCPLease(ack: message))
        #expect(lease.dnsServers.map(\.description) == ["10.0.0.1", "10.0.0.2"])
        #expect(lease.address.prefixLength == 24)
        #expect(lease.domainName == "lab")
    }

    @Test func encodeDecodeRoundTripAndLongOptions() throws {
        var message = DHCPMessage()
        message.transactionID = 0xdead_beef
        message.clientHardwareAddress = mac
        message.setOption(53, [3])
        message.setOption(77, [UInt8](repeating: 7, count: 600))  // split into 255 + 255 + 90
        let decoded = try DHCPMessage(decoding: message.encoded())
        #expect(decoded.transactionID == 0xdead_beef)
        #expect(decoded.option(77)?.count == 600)
        #expect(decoded.messageType == .request)
    }

    @Test func malformedPacketsAreRejectedNotFatal() {
        #expect(throws: DHCPMessage.DecodingError.self) { try DHCPMessage(decoding: []) }
        #expect(throws: DHCPMessage.DecodingError.self) { try DHCPMessage(decoding: [UInt8](repeating: 0, count: 300)) }
        var truncated = serverReply(type: 5, xid: 1, yiaddr: [10, 0, 0, 1], mac: mac, options: [])
        truncated.removeLast()
        truncated += [6, 200, 1, 2]  // length 200, 2 bytes present
        #expect(throws: DHCPMessage.DecodingError.truncatedOption(code: 6)) { try DHCPMessage(decoding: truncated) }
        // Bad routes and names are dropped, not trusted.
        #expect(DHCPLease.decodeClasslessRoutes([33, 10]) == nil)
        #expect(DHCPLease.decodeDomainSearch([0xC0, 0]) == [])  // a pointer to itself
        #expect(DHCPLease.decodeDomainSearch([63, 1, 2]) == [])  // a label past the end
    }

    /// Thousands of random and truncated datagrams: the parser never crashes or hangs.
    @Test func fuzzedPacketsNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        let seed = serverReply(
            type: 5, xid: 9, yiaddr: [10, 77, 0, 9], mac: mac,
            options: [54, 4, 10, 77, 0, 1, 52, 1, 3, 121, 5, 0, 10, 0, 0, 1, 119, 4, 0xC0, 0, 0xC0, 2])
        var parsed = 0
        for round in 0..<5000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<Int.random(in: 0...600, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            case 1: bytes = Array(seed.prefix(Int.random(in: 0...seed.count, using: &generator)))
            default:
                bytes = seed
                for _ in 0..<Int.random(in: 1...20, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(
                        in: 0...255, using: &generator)
                }
            }
            if round % 3 != 1, bytes.count >= 240, round % 2 == 0 {
                bytes.replaceSubrange(236..<240, with: [99, 130, 83, 99])
            }
            if let message = try? DHCPMessage(decoding: bytes) {
                parsed += 1
                _ = DHCPLease(ack: message)
                _ = message.encoded()
            }
        }
        #expect(parsed > 0)
    }
}

@Suite struct DHCPClientTests {
    let mac: [UInt8] = [0x02, 0, 0, 0, 0, 1]

    func reply(_ type: UInt8, to client: DHCPClient, yiaddr: [UInt8] = [10, 77, 0, 150], lease: UInt32 = 120) throws
        -> DHCPMessage
    {
        let options: [UInt8] =
            [54, 4, 10, 77, 0, 1, 1, 4, 255, 255, 255, 0, 3, 4, 10, 77, 0, 1]
            + [51, 4] + (0..<4).map { UInt8((lease >> (24 - 8 * UInt32($0))) & 0xff) }
        return try DHCPMessage(
            decoding: serverReply(type: type, xid: client.transactionID, yiaddr: yiaddr, mac: mac, options: options))
    }

    func sent(_ actions: [DHCPAction]) -> (DHCPMessage, DHCPDestination)? {
        for action in actions { if case .send(let message, let destination) = action { return (message, destination) } }
        return nil
    }

    func bound(_ actions: [DHCPAction]) -> DHCPLease? {
        for action in actions { if case .bound(let lease) = action { return lease } }
        return nil
    }

    @Test func fullLifeDrivenByTheClock() throws {
        var client = DHCPClient(
            identity: DHCPClientIdentity(hardwareAddress: mac, containerID: "c", network: "n", ifName: "eth0"))
        var now = 1000.0
        #expect(sent(client.start(now: now))?.0.messageType == .discover)
        // No answer: the DISCOVER is sent again after the backoff, not before.
        #expect(client.tick(now: now + 0.1).isEmpty)
        now = try #require(client.nextDeadline)
        #expect(sent(client.tick(now: now))?.0.messageType == .discover)
        let secondDelay = try #require(client.nextDeadline) - now
        #expect(secondDelay > 1.4 && secondDelay < 2.6, "backoff doubles: \(secondDelay)")

        let request = try #require(sent(client.receive(try reply(2, to: client), now: now + 0.01)))
        #expect(request.0.messageType == .request)
        #expect(request.0.option(50) == [10, 77, 0, 150] && request.0.option(54) == [10, 77, 0, 1])
        let lease = try #require(bound(client.receive(try reply(5, to: client), now: now + 0.02)))
        #expect(lease.address.description == "10.77.0.150/24" && client.state == .bound)

        // T1 (60 s of 120): a unicast REQUEST to the server from our address.
        let boundAt = client.boundAt
        #expect(client.nextDeadline == boundAt + 60)
        let renew = try #require(sent(client.tick(now: boundAt + 60)))
        #expect(renew.1 == .unicast(IPAddress("10.77.0.1")!))
        #expect(
            renew.0.clientAddress.description == "10.77.0.150" && renew.0.option(54) == nil && renew.0.option(50) == nil
        )
        #expect(client.state == .renewing)
        #expect(bound(client.receive(try reply(5, to: client), now: boundAt + 60.01)) != nil)
        #expect(client.state == .bound)

        // No answer to renewals: T2 rebinds by broadcast, expiry loses the lease and starts over.
        let second = client.boundAt
        _ = client.tick(now: second + 60)
        let rebind = try #require(sent(client.tick(now: second + 105)))
        #expect(rebind.1 == .broadcast && client.state == .rebinding)
        let expired = client.tick(now: second + 120)
        #expect(
            expired.contains {
                if case .lost = $0 { return true }
                return false
            })
        #expect(sent(expired)?.0.messageType == .discover)
        #expect(client.lease == nil && client.state == .selecting)
    }

    @Test func nakDropsTheLeaseAndStartsOver() throws {
        var client = DHCPClient(
            identity: DHCPClientIdentity(hardwareAddress: mac, containerID: "c", network: "n", ifName: "eth0"))
        _ = client.start(now: 0)
        _ = client.receive(try reply(2, to: client), now: 0.1)
        _ = client.receive(try reply(5, to: client), now: 0.2)
        _ = client.tick(now: client.boundAt + 60)
        let actions = client.receive(try reply(6, to: client), now: 61)
        #expect(
            actions.contains {
                if case .lost(let reason) = $0 { return reason.contains("DHCPNAK") }
                return false
            })
        #expect(sent(actions)?.0.messageType == .discover)
    }

    @Test func repliesForOthersAreIgnored() throws {
        var client = DHCPClient(
            identity: DHCPClientIdentity(hardwareAddress: mac, containerID: "c", network: "n", ifName: "eth0"))
        _ = client.start(now: 0)
        var other = try reply(2, to: client)
        other.transactionID &+= 1
        #expect(client.receive(other, now: 0.1).isEmpty)
        var otherID = try reply(2, to: client)
        otherID.setOption(61, [0] + Array("x/n/eth0".utf8))
        #expect(client.receive(otherID, now: 0.1).isEmpty)
    }

    @Test func releaseIsUnicastFromTheLeasedAddress() throws {
        var client = DHCPClient(
            identity: DHCPClientIdentity(hardwareAddress: mac, containerID: "c", network: "n", ifName: "eth0"))
        _ = client.start(now: 0)
        _ = client.receive(try reply(2, to: client), now: 0.1)
        _ = client.receive(try reply(5, to: client), now: 0.2)
        let (message, destination) = try #require(client.release())
        #expect(message.messageType == .release)
        #expect(message.clientAddress.description == "10.77.0.150")
        #expect(message.option(54) == [10, 77, 0, 1])
        #expect(destination == .unicast(IPAddress("10.77.0.1")!))
    }

    @Test func distinctClientIdentifiersOnASharedMAC() {
        let a = DHCPClientIdentity(hardwareAddress: mac, containerID: "c1", network: "n", ifName: "eth0")
        let b = DHCPClientIdentity(hardwareAddress: mac, containerID: "c2", network: "n", ifName: "eth0")
        #expect(a.clientIdentifier != b.clientIdentifier)
        #expect(a.clientIdentifier.first == 0)
    }
}

/// The one registry of DHCPv4 option names (what `ipam.request`/`provide` accept).
struct DHCPOptionNameTests {
    @Test func namesAreTheReferencesAndOursInAnyCase() {
        #expect(DHCPOptionCode.code(named: "dhcp-client-identifier") == DHCPOptionCode.clientIdentifier)
        #expect(DHCPOptionCode.code(named: "Classless-Static-Routes") == 121)
        #expect(DHCPOptionCode.code(named: "routers") == DHCPOptionCode.code(named: "router"))
        #expect(DHCPOptionCode.code(named: "no-such-option") == nil)
    }

    @Test func eachNameIsListedOnceInLowercase() {
        let names = DHCPOptionCode.names.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { $0 == $0.lowercased() })
    }
}
