import Addressing
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// When the attachment index is complete — it lists every address of every owner in the
/// network directory — ADD's duplicate check, DEL and CHECK need only the entries of one
/// attachment, whatever the size of the store: the work no longer grows with it.
///
/// Complete is proven, not assumed. After an operation that leaves the index complete, the
/// store *seals* it: the network directory's mtime is set to one nanosecond before what the
/// kernel last wrote there (L), and the index directory's mtime to the directory's plus the
/// layout version in nanoseconds (layout 2: L + 1 ns). Any later change of the network
/// directory by anyone — the reference's ADD, DEL or GC, an older swift-cni — sets its mtime to
/// the current time, which is at or after L (in the same clock tick, L itself), never L - 1 ns.
/// So "index mtime = directory mtime + 2 ns" holds exactly while nobody else has changed the
/// directory since the seal, and a seal of another layout never passes for this one. Every
/// writer holds the store's lock (the reference's too), and the check and the seal are made
/// under it. On a filesystem that keeps no nanoseconds the relation never holds, and every
/// operation reads the whole store as before.
///
/// When it does not hold, the operation reads every file (as the reference does) and
/// *reconciles* the index with what it read: only the owners whose addresses changed since the
/// last reconciliation (recorded in `.reconciled2`: one `<address> <owner entry>` line per
/// reservation) have their entries read and, when different, rewritten; owners that hold
/// nothing any more lose theirs. The first reconciliation of a store (or of a store indexed in
/// another layout) writes every bucket once and removes the other layout's files.
extension ReservationStore {
    /// The record of the last reconciliation, in the index directory.
    static let reconciliationRecord = ".reconciled\(AttachmentIndex.layout)"
    /// The index entry of address files with no owner (empty or unreadable), which only GC uses.
    static let ownerlessEntry = ".ownerless"

    /// The index is complete: nothing but this store's sealed operations changed the network
    /// directory since the last seal (see above).
    public var indexIsComplete: Bool {
        var directoryStatus = stat()
        var indexStatus = stat()
        guard fstat(directoryFD, &directoryStatus) == 0,
            fstatat(AT_FDCWD, indexDirectory, &indexStatus, AT_SYMLINK_NOFOLLOW) == 0,
            indexStatus.st_mode & S_IFMT == S_IFDIR
        else { return false }
        return Self.sealHolds(directory: directoryStatus.st_mtim, index: indexStatus.st_mtim)
    }

    /// The two modification times a seal sets, given the kernel's time of the directory's last
    /// change: the directory one nanosecond before it, the index the layout's version in
    /// nanoseconds after the directory (layout 2: one nanosecond after the last change).
    static func sealTimes(lastChange: timespec) -> (directory: timespec, index: timespec) {
        let directory = nanosecondBefore(lastChange)
        return (directory, nanoseconds(AttachmentIndex.layout, after: directory))
    }

    /// The directory's and the index's times are this layout's seal: index = directory +
    /// layout ns. A change by anyone after the seal gives the directory a time at or after the
    /// sealed last change (the same value in the same clock tick), so the relation no longer
    /// holds; neither does another layout's seal.
    static func sealHolds(directory: timespec, index: timespec) -> Bool {
        let expected = nanoseconds(AttachmentIndex.layout, after: directory)
        return expected.tv_sec == index.tv_sec && expected.tv_nsec == index.tv_nsec
    }

    /// `count` (0 to 1e9) nanoseconds after `time`, without overflow on any value.
    static func nanoseconds(_ count: Int, after time: timespec) -> timespec {
        var result = time
        for _ in 0..<count { result = nanosecondAfter(result) }
        return result
    }

    /// Seals the index as complete for the directory as it is now (call under the lock, after
    /// the index has been brought up to date). Failing to seal only costs the next operation
    /// a full read.
    public func sealIndex() {
        guard let indexFD = indexDirectory(create: true)?.rawValue else { return }
        var status = stat()
        guard fstat(directoryFD, &status) == 0 else { return }
        let sealed = Self.sealTimes(lastChange: status.st_mtim)
        // UTIME_OMIT from <sys/stat.h> ((1 << 30) - 2; a macro Swift does not import): the
        // access time stays as it is.
        let omit = timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2)
        var directoryTimes = [omit, sealed.directory]
        guard futimens(directoryFD, &directoryTimes) == 0 else { return }
        var indexTimes = [omit, sealed.index]
        _ = futimens(indexFD, &indexTimes)
    }

    /// Makes the index list, for every owner in `reservations` (a read of the whole network
    /// directory), exactly the addresses it holds, reading and rewriting only the entries of
    /// owners whose addresses changed since the last reconciliation; records this one.
    /// Failing to write is not an error: the index is only sealed when this succeeded.
    @discardableResult
    public func reconcileIndex(with reservations: [Reservation]) -> Bool {
        guard let indexFD = indexDirectory(create: true)?.rawValue else { return false }
        let previous = Self.parseRecord((try? FileIO.readRegularFile(Self.reconciliationRecord, in: indexFD)) ?? [])
        var current: [IPAddress: String] = [:]
        var held: [String: [IPAddress]] = [:]
        for reservation in reservations where reservation.isFile {
            // Files with no owner (empty: a writer killed mid-way) are listed too, for GC.
            let entry =
                reservation.owner.map { Self.indexEntry(containerID: $0.containerID, ifName: $0.ifName ?? "") }
                ?? Self.ownerlessEntry
            current[reservation.address] = entry
            held[entry, default: []].append(reservation.address)
        }
        var changes: [String: [IPAddress]] = [:]
        for (address, entry) in current where previous[address] != entry { changes[entry] = held[entry] }
        // Owners that held something at the last reconciliation and hold nothing now (released
        // by another writer): their entries go.
        for entry in Set(previous.values) where held[entry] == nil { changes[entry] = [] }
        // An owner whose name cannot be stored leaves the index incomplete: never sealed.
        guard attachmentIndex.update(changes) else { return false }
        if previous.isEmpty { attachmentIndex.removeStrayFiles() }
        var record = ""
        record.reserveCapacity(current.count * 40)
        for (address, entry) in current { record += address.description + " " + entry + "\n" }
        return (try? AtomicFile.replace(Self.reconciliationRecord, in: indexFD, with: Array(record.utf8))) != nil
    }

    /// `<address> <entry>` lines; anything else is skipped (it only makes an owner look changed).
    static func parseRecord(_ content: [UInt8]) -> [IPAddress: String] {
        var record: [IPAddress: String] = [:]
        for line in content.split(separator: UInt8(ascii: "\n")) {
            guard let space = line.firstIndex(of: UInt8(ascii: " ")),
                let address = IPAddress(String(decoding: line[line.startIndex..<space], as: UTF8.self))
            else { continue }
            record[address] = String(decoding: line[(space + 1)...], as: UTF8.self)
        }
        return record
    }

    /// One nanosecond later / earlier, without overflow on any value a filesystem may hold.
    static func nanosecondAfter(_ time: timespec) -> timespec {
        time.tv_nsec >= 999_999_999
            ? timespec(tv_sec: time.tv_sec &+ 1, tv_nsec: 0) : timespec(tv_sec: time.tv_sec, tv_nsec: time.tv_nsec + 1)
    }

    static func nanosecondBefore(_ time: timespec) -> timespec {
        time.tv_nsec <= 0
            ? timespec(tv_sec: time.tv_sec &- 1, tv_nsec: 999_999_999)
            : timespec(tv_sec: time.tv_sec, tv_nsec: time.tv_nsec - 1)
    }
}
