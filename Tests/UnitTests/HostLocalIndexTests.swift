import Addressing
import CNI
import TestSupport
import Testing

@testable import IPAM

#if canImport(Glibc)
    import Glibc
#endif

/// The complete-index fast path of host-local (`IndexCompleteness`): sealed after our own
/// operations, broken by any change another writer makes to the store — at once, in the same
/// clock tick — and never trusted for a duplicate check after such a change.
@Suite struct HostLocalIndexTests {
    func allocator(_ dir: TemporaryDirectory) throws -> HostLocalAllocator {
        try HostLocalAllocator(
            config: try HostLocalConfig(
                request: try request(hostLocal(dir, ipam: #""ranges":[[{"subnet":"10.0.0.0/24"}]]"#))))
    }

    /// What the reference does on ADD: an O_EXCL file named by the address, `<id>\r\n<ifname>`.
    func referenceReserves(_ dir: TemporaryDirectory, _ address: String, _ owner: String) {
        let fd = open(dir.path + "/net1/" + address, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        _ = Array(owner.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func isDuplicate(_ error: any Error) -> Bool {
        (error as? CNIError)?.code == 7
            && (error as? CNIError)?.msg.contains("duplicate allocation is not allowed") == true
    }

    /// The ADD must be refused as a duplicate (an ADD that succeeds is a failure of the test).
    func expectDuplicate(
        _ a: HostLocalAllocator, _ containerID: String, _ ifName: String = "eth0",
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            let ips = try a.allocate(containerID: containerID, ifName: ifName)
            Issue.record("ADD of \(containerID)/\(ifName) was not refused: got \(ips)", sourceLocation: sourceLocation)
        } catch {
            #expect(isDuplicate(error), "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func ourOperationsSealAndAnyOtherChangeBreaksTheSealAtOnce() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir)
        #expect(!a.store.indexIsComplete, "a new store has no index yet")
        _ = try a.allocate(containerID: "c1", ifName: "eth0")
        #expect(a.store.indexIsComplete)
        // In the same clock tick as our seal: a reservation made by another writer.
        referenceReserves(dir, "10.0.0.77", "r1\r\neth0")
        #expect(!a.store.indexIsComplete)
        _ = try a.allocate(containerID: "c2", ifName: "eth0")  // reads everything, reconciles, seals
        #expect(a.store.indexIsComplete)
        #expect(dir.indexEntries("net1") == ["c1:eth0", "c2:eth0", "r1:eth0"])
        _ = unlink(dir.path + "/net1/10.0.0.77")  // another writer's DEL
        #expect(!a.store.indexIsComplete)
        // An unsealed index is never trusted, not even for the attachment's own entry: DEL
        // reads the store once (it may hold more of c2's addresses than the entry lists),
        // rebuilds the index and seals it again.
        try a.release(containerID: "c2", ifName: "eth0")
        #expect(a.store.indexIsComplete)
        _ = try a.allocate(containerID: "c3", ifName: "eth0")
        #expect(a.store.indexIsComplete)
        dir.write(".swift-cni-index/net1/planted:eth0", "10.0.0.9")  // our index changed by someone else
        #expect(!a.store.indexIsComplete)
    }

    @Test func aReservationMadeByAnotherWriterIsADuplicateForItsAttachment() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir)
        _ = try a.allocate(containerID: "c1", ifName: "eth0")
        referenceReserves(dir, "10.0.0.3", "r1\r\neth0")
        #expect(throws: (any Error).self) { _ = try a.allocate(containerID: "r1", ifName: "eth0") }
        expectDuplicate(a, "r1", "eth0")
        // Sealed again by the failed ADD's read? No: an ADD that fails does not seal.
        let next = try a.allocate(containerID: "c2", ifName: "eth0")
        #expect(next.first?.address.description == "10.0.0.4/24", "10.0.0.3 is taken by the other writer's reservation")
        #expect(a.store.indexIsComplete)
        expectDuplicate(a, "r1", "eth0")
        #expect(try a.release(containerID: "r1", ifName: "eth0") == [IPAddress("10.0.0.3")!])
    }

    /// The narrowest race: right after our seal, another writer releases one of our addresses
    /// and gives it, in the same tick and possibly with the same inode, to an attachment that
    /// then comes to us for ADD: still a duplicate.
    @Test func sameNameReplacedInTheSameTickIsSeen() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir)
        _ = try a.allocate(containerID: "c1", ifName: "eth0")  // 10.0.0.2
        _ = unlink(dir.path + "/net1/10.0.0.2")
        referenceReserves(dir, "10.0.0.2", "c7\r\neth0")
        do {
            _ = try a.allocate(containerID: "c7", ifName: "eth0")
            Issue.record("a duplicate ADD for c7 was accepted")
        } catch {
            #expect(isDuplicate(error))
        }
        #expect(try a.addresses(containerID: "c1", ifName: "eth0").isEmpty)
    }

    /// A runtime restarting a container under the same id with the reference: our entry for the
    /// attachment is stale (lists an address the reference released) and the reference gave
    /// the attachment another address.
    @Test func aStaleEntryOfTheSameAttachmentIsReconciled() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir)
        _ = try a.allocate(containerID: "c1", ifName: "eth0")  // 10.0.0.2
        _ = unlink(dir.path + "/net1/10.0.0.2")  // the reference's DEL
        referenceReserves(dir, "10.0.0.9", "c1\r\neth0")  // the reference's ADD
        expectDuplicate(a, "c1", "eth0")
        _ = try a.allocate(containerID: "c2", ifName: "eth0")
        #expect(a.store.indexIsComplete)
        #expect(a.store.indexedAddresses(containerID: "c1", ifName: "eth0") == [IPAddress("10.0.0.9")!])
        #expect(try a.addresses(containerID: "c1", ifName: "eth0") == [IPAddress("10.0.0.9")!])
        #expect(try a.release(containerID: "c1", ifName: "eth0") == [IPAddress("10.0.0.9")!])
    }

    @Test func legacyReservationsAreFoundThroughACompleteIndex() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir)
        _ = try a.allocate(containerID: "seed", ifName: "eth0")
        referenceReserves(dir, "10.0.0.60", "old")  // an old reference's file: the container only
        _ = try a.allocate(containerID: "c2", ifName: "eth0")  // reconciles: "old:" is indexed
        #expect(a.store.indexIsComplete)
        do {
            _ = try a.allocate(containerID: "old", ifName: "eth3")
            Issue.record("the container's legacy reservation was not seen")
        } catch {
            #expect(isDuplicate(error))
        }
        #expect(try a.release(containerID: "old", ifName: "eth3") == [IPAddress("10.0.0.60")!])
    }

    /// Earlier versions kept one index file per attachment; the first reconciliation replaces
    /// them with buckets.
    @Test func anEarlierVersionsIndexIsReplaced() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir)
        _ = try a.allocate(containerID: "seed", ifName: "eth0")
        dir.write(".swift-cni-index/net1/old:eth0", "10.0.0.30")
        referenceReserves(dir, "10.0.0.30", "old\r\neth0")
        _ = try a.allocate(containerID: "c1", ifName: "eth0")
        #expect(a.store.indexIsComplete)
        #expect(dir.indexEntries("net1") == ["c1:eth0", "old:eth0", "seed:eth0"], "no per-attachment file is left")
        expectDuplicate(a, "old", "eth0")
    }

    /// An owner with a line break, a space, a colon and a percent sign in its names (from a
    /// hand-written file): the index's keys escape them, so the owner is indexed like any other
    /// and the store is sealed.
    @Test func anOwnerWithLineBreaksAndColonsIsIndexed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir)
        _ = try a.allocate(containerID: "seed", ifName: "eth0")
        referenceReserves(dir, "10.0.0.40", "odd\r\nin\nside")
        referenceReserves(dir, "10.0.0.41", "a:b\r\nc %d")
        referenceReserves(dir, "10.0.0.42", "a\r\nb:c %d")
        _ = try a.allocate(containerID: "c1", ifName: "eth0")
        #expect(a.store.indexIsComplete)
        #expect(
            dir.indexEntries("net1") == ["a%3Ab:c%20%25d", "a:b%3Ac%20%25d", "c1:eth0", "odd:in%0Aside", "seed:eth0"])
        expectDuplicate(a, "a:b", "c %d")
        #expect(try a.release(containerID: "a", ifName: "b:c %d") == [IPAddress("10.0.0.42")!])
        #expect(try a.addresses(containerID: "a:b", ifName: "c %d") == [IPAddress("10.0.0.41")!])
        expectDuplicate(a, "odd", "in\nside")
        #expect(try a.release(containerID: "odd", ifName: "in\nside") == [IPAddress("10.0.0.40")!])
    }

    @Test func aStoreOfThousandsIsReadOnceThenNotAgain() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir)
        _ = try a.allocate(containerID: "seed", ifName: "eth0")
        for n in 0..<200 { referenceReserves(dir, "10.0.0.\(10 + n)", "r\(n)\r\neth0") }
        _ = try a.allocate(containerID: "c1", ifName: "eth0")
        #expect(dir.indexEntries("net1").count == 202)
        #expect(dir.files(".swift-cni-index/net1").count <= 65, "buckets, not a file per owner")
        // Sealed now: a file changed in place (not through the directory, which no writer
        // does) is not read again, which shows ADD no longer reads every file: the owner it now
        // names is not found through the index, so its ADD is not refused.
        dir.write("net1/10.0.0.11", "zz\r\neth0")
        #expect(a.store.indexIsComplete)
        #expect(try a.allocate(containerID: "zz", ifName: "eth0").count == 1)
        expectDuplicate(a, "r0", "eth0")
    }
}

/// The seal's arithmetic, for kernels whose timestamps are coarse (one value per clock tick, as
/// Debian 12's 6.1): a change made in the same tick as the sealed last change gets that very
/// time, and must still break the seal. (Kernels with multigrain timestamps, 6.13 and later,
/// never repeat a time once it has been read, so the filesystem tests above cannot show this.)
@Suite struct IndexSealArithmeticTests {
    @Test(arguments: [
        (1_764_590_000, 0), (1_764_590_000, 1), (1_764_590_000, 500_000_000), (1_764_590_000, 999_999_999), (0, 0),
    ])
    func anyLaterKernelTimeBreaksTheSeal(seconds: Int, nanoseconds: Int) {
        let lastChange = timespec(tv_sec: seconds, tv_nsec: nanoseconds)
        let sealed = ReservationStore.sealTimes(lastChange: lastChange)
        #expect(ReservationStore.sealHolds(directory: sealed.directory, index: sealed.index))
        func later(_ offset: Int) -> timespec {
            let total = nanoseconds + offset
            return timespec(tv_sec: seconds + total / 1_000_000_000, tv_nsec: total % 1_000_000_000)
        }
        for offset in [0, 1, 2, 4_000_000, 999_999_999, 1_000_000_000, 86_400_000_000_000] {
            #expect(
                !ReservationStore.sealHolds(directory: later(offset), index: sealed.index),
                "a change \(offset) ns after the sealed one (0: the same tick) must break the seal")
        }
    }

    /// A seal of another layout (the index one nanosecond after the directory) is not this
    /// layout's: such a store is read whole and re-indexed once.
    @Test func anotherLayoutsSealIsNotTrusted() {
        let directory = timespec(tv_sec: 1_764_590_000, tv_nsec: 123)
        #expect(!ReservationStore.sealHolds(directory: directory, index: ReservationStore.nanosecondAfter(directory)))
    }

    @Test func extremeTimesDoNotTrap() {
        for time in [timespec(tv_sec: .max, tv_nsec: 999_999_999), timespec(tv_sec: .min, tv_nsec: 0)] {
            let sealed = ReservationStore.sealTimes(lastChange: time)
            #expect(ReservationStore.sealHolds(directory: sealed.directory, index: sealed.index))
        }
    }
}

/// GC through a complete index decides exactly as GC reading every file.
@Suite struct HostLocalIndexGarbageCollectionTests {
    /// A store with our reservations, other writers' (current and legacy), an empty file, then
    /// one ADD so the index is reconciled and sealed.
    func preparedStore(_ dir: TemporaryDirectory) throws -> HostLocalAllocator {
        let a = try HostLocalAllocator(
            config: try HostLocalConfig(
                request: try request(
                    hostLocal(dir, ipam: #""ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"fd00::/64"}]]"#))))
        for id in ["keep1", "drop1"] { _ = try a.allocate(containerID: id, ifName: "eth0") }
        for (address, owner) in [
            ("10.0.0.100", "ref-keep\r\neth0"), ("10.0.0.101", "ref-drop\r\neth0"), ("10.0.0.102", "legacy-keep"),
            ("10.0.0.103", "legacy-drop"), ("10.0.0.104", ""), ("10.0.0.105", "ref-keep\r\neth1"),
        ] {
            dir.write("net1/" + address, owner)
        }
        _ = try a.allocate(containerID: "keep2", ifName: "eth0")
        return a
    }

    let valid: Set<CNI.Attachment> = [
        CNI.Attachment(containerID: "keep1", ifName: "eth0"), CNI.Attachment(containerID: "keep2", ifName: "eth0"),
        CNI.Attachment(containerID: "ref-keep", ifName: "eth0"),
        CNI.Attachment(containerID: "legacy-keep", ifName: "eth7"),
    ]

    @Test func byIndexAndByReadingEveryFileAgree() throws {
        var outcomes: [(released: Set<IPAddress>, left: [String])] = []
        for readEveryFile in [false, true] {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let a = try preparedStore(dir)
            #expect(a.store.indexIsComplete)
            if readEveryFile {
                dir.write("net1/unrelated", "x")  // any change by another writer: no index
                #expect(!a.store.indexIsComplete)
            }
            let released = Set(try a.collectGarbage(valid: valid))
            #expect(a.store.indexIsComplete, "GC leaves a sealed index either way")
            outcomes.append((released, dir.files("net1").filter { $0 != "unrelated" }))
        }
        #expect(outcomes[0].released == outcomes[1].released)
        #expect(outcomes[0].left == outcomes[1].left)
        #expect(
            outcomes[0].released.map(\.description).sorted() == [
                "10.0.0.101", "10.0.0.103", "10.0.0.104", "10.0.0.105", "10.0.0.3", "fd00::3",
            ])
    }

    /// After GC by index, ADD's duplicate check and DEL still see everything that stayed.
    @Test func whatStaysIsStillSeen() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try preparedStore(dir)
        try a.collectGarbage(valid: valid)
        #expect(throws: (any Error).self) { _ = try a.allocate(containerID: "ref-keep", ifName: "eth0") }
        #expect(throws: (any Error).self) { _ = try a.allocate(containerID: "legacy-keep", ifName: "eth3") }
        #expect(try a.release(containerID: "ref-keep", ifName: "eth0") == [IPAddress("10.0.0.100")!])
        #expect(try a.collectGarbage(valid: []).count == 5)
        #expect(dir.files("net1") == ["last_reserved_ip.0", "last_reserved_ip.1", "lock"])
    }
}

@Suite struct HostLocalIndexUpkeepTests {
    /// An owner another writer released entirely loses its entry at the next reconciliation,
    /// so the index does not grow with attachments that are gone.
    @Test func entriesOfOwnersReleasedElsewhereGo() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try HostLocalAllocator(
            config: try HostLocalConfig(
                request: try request(hostLocal(dir, ipam: #""ranges":[[{"subnet":"10.0.0.0/24"}]]"#))))
        _ = try a.allocate(containerID: "seed", ifName: "eth0")
        dir.write("net1/10.0.0.50", "gone\r\neth0")
        _ = try a.allocate(containerID: "c1", ifName: "eth0")
        #expect(dir.indexEntries("net1") == ["c1:eth0", "gone:eth0", "seed:eth0"])
        _ = unlink(dir.path + "/net1/10.0.0.50")
        _ = try a.allocate(containerID: "c2", ifName: "eth0")
        #expect(dir.indexEntries("net1") == ["c1:eth0", "c2:eth0", "seed:eth0"])
    }
}
