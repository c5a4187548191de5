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
}
