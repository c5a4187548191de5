import CNI
import POSIX
import Testing

@testable import IPAM

/// Names are bytes: canonically equivalent strings, which Swift's String calls equal, are two
/// names everywhere a name is compared or used as a key.
@Suite struct ExactNameTests {
    static let composed = "n\u{e9}t"
    static let decomposed = "ne\u{301}t"

    @Test func canonicallyEquivalentNamesDiffer() {
        #expect(Self.composed == Self.decomposed, "Swift's String equality, for the record")
        #expect(!ExactName.equal(Self.composed, Self.decomposed))
        #expect(ExactKey("c1", Self.composed) != ExactKey("c1", Self.decomposed))
        #expect(ExactKey("ab", "c") != ExactKey("a", "bc"), "parts never run together")
        let attachments: Set<CNI.Attachment> = [
            CNI.Attachment(containerID: "c1", ifName: Self.composed),
            CNI.Attachment(containerID: "c1", ifName: Self.decomposed),
        ]
        #expect(attachments.count == 2)
        let owners: Set<ReservationOwner> = [
            ReservationOwner(containerID: "c1", ifName: Self.composed),
            ReservationOwner(containerID: "c1", ifName: Self.decomposed),
            ReservationOwner(containerID: "c1", ifName: nil), ReservationOwner(containerID: "c1", ifName: ""),
        ]
        #expect(owners.count == 4, "a legacy owner is not the owner with an empty interface name")
        let keys: Set<IndexKey> = [
            IndexKey(ReservationOwner(containerID: "c1", ifName: Self.composed)),
            IndexKey(ReservationOwner(containerID: "c1", ifName: Self.decomposed)),
        ]
        #expect(keys.count == 2)
    }

    /// Index keys escape what a bucket line cannot hold and read back as the same owner.
    @Test func indexKeysRoundTrip() {
        for owner in [
            ReservationOwner(containerID: "a:b", ifName: "c %d"),
            ReservationOwner(containerID: "odd", ifName: "in\nside"),
            ReservationOwner(containerID: "legacy", ifName: nil),
            ReservationOwner(containerID: "x", ifName: Self.composed),
        ] {
            let key = IndexKey(owner)
            #expect(!key.text.contains(" ") && !key.text.contains("\n"), "\(key.text)")
            #expect(key.named == .owner(owner), "\(key.text)")
        }
        #expect(IndexKey(nil).named == .ownerless)
    }

    /// Any bytes come back exactly from a name (`RawName.decode` then `rawBytes`), valid UTF-8
    /// stays as it is, and two different byte strings are never one name.
    @Test func rawNamesRoundTripEveryByteString() {
        var generator = SystemRandomNumberGenerator()
        var seen: [String: [UInt8]] = [:]
        for _ in 0..<20000 {
            let length = Int.random(in: 0...8, using: &generator)
            let bytes = (0..<length).map { _ in
                // Mostly bytes around the UTF-8 boundaries.
                [0x41, 0x7f, 0x80, 0xbf, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xf8, 0xff, 0x8f, 0xbc][
                    Int.random(in: 0..<13, using: &generator)]
                    as UInt8
            }
            let name = RawName.decode(bytes)
            #expect(name.rawBytes == bytes, "\(bytes)")
            if let previous = seen[name] { #expect(previous == bytes, "two byte strings, one name: \(bytes)") }
            seen[name] = bytes
        }
        #expect(RawName.decode(Array("n\u{e9}t".utf8)) == "n\u{e9}t")
        // A name that really holds a scalar of the raw block keeps its bytes too.
        let genuine = Array("a\u{10FFFF}".utf8)
        #expect(RawName.decode(genuine).rawBytes == genuine)
        #expect(RawName.decode(genuine) != RawName.decode([0x61, 0xff]))
    }
}
