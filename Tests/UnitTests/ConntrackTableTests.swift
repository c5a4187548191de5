import Netlink
import Testing

/// ctnetlink requests as golden bytes, against replies the test plays (no socket, no root).
struct ConntrackTableTests {
    /// An attribute: u16 length, u16 type, the value padded to 4.
    static func attribute(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
        let length = UInt16(4 + value.count)
        var bytes = [UInt8(length & 0xff), UInt8(length >> 8), UInt8(type & 0xff), UInt8(type >> 8)] + value
        while bytes.count % 4 != 0 { bytes.append(0) }
        return bytes
    }

    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }

    /// A netlink message of `type` for `sequence` and the transport's port 4242.
    static func message(_ type: UInt16, flags: UInt16, sequence: UInt32, _ payload: [UInt8]) -> [UInt8] {
        let length = UInt32(16 + payload.count)
        func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        var bytes =
            le32(length) + [UInt8(type & 0xff), UInt8(type >> 8), UInt8(flags & 0xff), UInt8(flags >> 8)]
            + le32(sequence) + le32(4242) + payload
        while bytes.count % 4 != 0 { bytes.append(0) }  // NLMSG_ALIGN between messages
        return bytes
    }

    /// CTA_TUPLE_ORIG { CTA_TUPLE_IP { V4 src, dst }, CTA_TUPLE_PROTO { num, sport, dport } }.
    static func tuple(_ proto: UInt8, source: UInt16, destination: UInt16) -> [UInt8] {
        let ip = attribute(1, [198, 51, 100, 2]) + attribute(2, [198, 51, 100, 1])
        let ports = attribute(1, [proto]) + attribute(2, be16(source)) + attribute(3, be16(destination))
        return attribute(1 | 0x8000, ip) + attribute(2 | 0x8000, ports)
    }

    @Test func deletesOnlyTheUDPEntriesToTheMappedPortsByTheirTuple() throws {
        let transport = RecordingTransport()
        let wanted = Self.tuple(17, source: 40053, destination: 5353)
        let entries = [
            wanted, Self.tuple(6, source: 40000, destination: 5353), Self.tuple(17, source: 40001, destination: 53),
        ]
        transport.replies.append { sequence in
            entries.flatMap { tuple in
                Self.message(
                    0x0100, flags: 2, sequence: sequence,
                    [2, 0, 0, 0] + Self.attribute(1 | 0x8000, tuple) + Self.attribute(18, Self.be16(0)))
            } + Self.message(3, flags: 2, sequence: sequence, [0, 0, 0, 0])
        }
        transport.replies.append { sequence in
            Self.message(2, flags: 0x100, sequence: sequence, [0, 0, 0, 0] + [UInt8](repeating: 0, count: 16))
        }
        let deleted = try ConntrackTable(transport: transport).deleteEntries(
            family: .v4, transport: 17, destinationPorts: [5353])
        #expect(deleted == 1)
        #expect(transport.sent.count == 2)
        // The dump: IPCTNL_MSG_CT_GET (0x0101), NLM_F_REQUEST|NLM_F_DUMP, nfgenmsg AF_INET v0.
        let dump = transport.sent[0]
        #expect(dump[4] == 0x01 && dump[5] == 0x01)
        #expect(UInt16(dump[6]) | UInt16(dump[7]) << 8 == 0x0301)
        #expect(Array(dump[16..<20]) == [2, 0, 0, 0])
        // The delete: IPCTNL_MSG_CT_DELETE (0x0102) with ACK, the entry's own tuple, its zone.
        let deletion = transport.sent[1]
        #expect(deletion[4] == 0x02 && deletion[5] == 0x01)
        #expect(UInt16(deletion[6]) | UInt16(deletion[7]) << 8 == 0x0005)
        #expect(Array(deletion[20...]) == Self.attribute(1 | 0x8000, wanted) + Self.attribute(18, Self.be16(0)))
    }

    /// A short or malformed dump reply is skipped, never read past its end.
    @Test func malformedEntriesAreSkipped() throws {
        let transport = RecordingTransport()
        transport.replies.append { sequence in
            Self.message(0x0100, flags: 2, sequence: sequence, [2, 0, 0, 0, 0xff, 0xff, 1, 0])
                + Self.message(0x0100, flags: 2, sequence: sequence, [2])
                + Self.message(3, flags: 2, sequence: sequence, [0, 0, 0, 0])
        }
        #expect(
            try ConntrackTable(transport: transport).deleteEntries(family: .v6, transport: 17, destinationPorts: [1])
                == 0)
        #expect(transport.sent.count == 1 && transport.sent[0][16] == 10)
    }
}
