import Addressing
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// host-local's attachment index: which addresses each owner of the store holds, so DEL, CHECK
/// and ADD's duplicate check read one small file instead of every reservation (the reference
/// ignores it). In `<dataDir>/.swift-cni-index/<network>/`, 64 bucket files `bucket2.<xx>`
/// (xx: the entry name's FNV-1a hash modulo 64, in hex) hold lines `<entry> <address>`,
/// where the entry is `<containerID>:<ifname>`, `<containerID>:` for a legacy owner (the
/// container only) or `.ownerless` for address files with no owner. Buckets keep the number of
/// files small whatever the number of owners: indexing a store of thousands written by others
/// creates 64 files, not thousands (a store of 5000 owners has about 80 lines per bucket).
///
/// Each bucket is replaced whole (POSIX's `AtomicFile`: a reader sees the old or the new
/// content); callers hold the store's lock, so there is one writer at a time. Every file is
/// opened relative to the directory, never through a symlink. Failing to write is reported, not
/// thrown: the index is a hint until it is sealed complete (see `IndexCompleteness`).
struct AttachmentIndex {
    static let bucketCount = 64
    /// The layout's version: in the bucket names, the reconciliation record's name and the
    /// seal (see `IndexCompleteness`), so a store indexed in another layout is never taken for
    /// complete and is rebuilt once. 1 was the one file per attachment of the first releases.
    static let layout = 2
    static let bucketPrefix = "bucket\(layout)."

    /// A bucket file of this layout (not a killed writer's temporary file).
    static func isBucket(_ name: String) -> Bool { name.hasPrefix(bucketPrefix) && !name.hasSuffix(".tmp") }
    let path: String
    /// The open index directory (created first when asked); nil when it cannot be had. The
    /// descriptor belongs to the store.
    let directory: (_ create: Bool) -> FileDescriptor?

    /// The bucket file of an entry.
    static func bucket(of entry: String) -> String {
        bucketPrefix + FNV1a.hex(FNV1a.hash(entry.utf8) % UInt64(bucketCount), digits: 2)
    }

    /// An entry name can be stored: not empty, no line break (a line holds one entry).
    static func isStorable(_ entry: String) -> Bool {
        !entry.isEmpty && !entry.utf8.contains(UInt8(ascii: "\n"))
    }

    /// Runs `body` with the index directory open (created first when `create`); nil when it
    /// cannot be opened.
    func withDirectory<T>(create: Bool, _ body: (Int32) -> T) -> T? {
        guard let fd = directory(create) else { return nil }
        return body(fd.rawValue)
    }

    /// A bucket's lines, as bytes; none when it is missing or unreadable.
    func lines(of bucket: String, in fd: Int32) -> [ArraySlice<UInt8>] {
        ((try? FileIO.readRegularFile(bucket, in: fd)) ?? []).split(separator: UInt8(ascii: "\n"))
    }

    /// A line's entry part (before its last space) and address part, as bytes.
    static func split(_ line: ArraySlice<UInt8>) -> (entry: ArraySlice<UInt8>, address: ArraySlice<UInt8>)? {
        guard let space = line.lastIndex(of: UInt8(ascii: " ")) else { return nil }
        return (line[line.startIndex..<space], line[(space + 1)...])
    }

    /// A bucket's entries, decoded. Lines that do not parse are dropped (a torn line can only
    /// come from a foreign hand: ours are replaced whole).
    func read(bucket name: String, in fd: Int32) -> [String: [IPAddress]] {
        var entries: [String: [IPAddress]] = [:]
        for line in lines(of: name, in: fd) {
            guard let (entry, text) = Self.split(line), let address = IPAddress(String(decoding: text, as: UTF8.self))
            else { continue }
            entries[String(decoding: entry, as: UTF8.self), default: []].append(address)
        }
        return entries
    }

    /// Replaces a bucket with `lines`, or removes it (and a killed writer's temporary file)
    /// when there are none.
    func store(bucket name: String, _ lines: [ArraySlice<UInt8>], in fd: Int32) -> Bool {
        guard !lines.isEmpty else {
            unlinkat(fd, AtomicFile.temporaryName(for: name), 0)
            return unlinkat(fd, name, 0) == 0 || errno == ENOENT
        }
        var text: [UInt8] = []
        for line in lines {
            text += line
            text.append(UInt8(ascii: "\n"))
        }
        return (try? AtomicFile.replace(name, in: fd, with: text)) != nil
    }

    /// The addresses listed for `entry`; nil when it has none. Only that entry's lines are
    /// decoded.
    func addresses(of entry: String) -> [IPAddress]? {
        guard let bucketLines = withDirectory(create: false, { fd in lines(of: Self.bucket(of: entry), in: fd) }) else {
            return nil
        }
        let wanted = Array(entry.utf8)
        var addresses: [IPAddress] = []
        for line in bucketLines {
            guard let (name, text) = Self.split(line), name.elementsEqual(wanted),
                let address = IPAddress(String(decoding: text, as: UTF8.self))
            else { continue }
            addresses.append(address)
        }
        return addresses.isEmpty ? nil : addresses
    }

    /// Sets the addresses of several entries (an empty list removes one), reading and writing
    /// each bucket concerned once. false when an entry cannot be stored or a write failed.
    @discardableResult
    func update(_ changes: [String: [IPAddress]]) -> Bool {
        guard !changes.isEmpty else { return true }
        guard changes.keys.allSatisfy(Self.isStorable) else { return false }
        return withDirectory(create: true) { fd in
            var byBucket: [String: [String]] = [:]
            for entry in changes.keys { byBucket[Self.bucket(of: entry), default: []].append(entry) }
            for (bucket, entries) in byBucket {
                // The other entries' lines are kept as they are, undecoded; the changed
                // entries' lines are replaced. Nothing is written when they come out the same.
                let changed = entries.map { Array($0.utf8) }
                var kept: [ArraySlice<UInt8>] = []
                var dropped: [ArraySlice<UInt8>] = []
                for line in lines(of: bucket, in: fd) {
                    if let (name, _) = Self.split(line), changed.contains(where: { name.elementsEqual($0) }) {
                        dropped.append(line)
                    } else {
                        kept.append(line)
                    }
                }
                let added = entries.flatMap { entry in
                    (changes[entry] ?? []).map { ArraySlice(Array((entry + " " + $0.description).utf8)) }
                }
                if dropped.map(Array.init).sorted(by: Self.lexicographic)
                    == added.map(Array.init).sorted(by: Self.lexicographic)
                {
                    continue
                }
                guard store(bucket: bucket, kept + added, in: fd) else { return false }
            }
            return true
        } ?? false
    }

    static func lexicographic(_ left: [UInt8], _ right: [UInt8]) -> Bool { left.lexicographicallyPrecedes(right) }

    /// Every entry of every bucket; nil when the directory cannot be read.
    func all() -> [String: [IPAddress]]? {
        withDirectory(create: false) { fd -> [String: [IPAddress]]? in
            guard let names = try? Directory.entryNames(of: FileDescriptor(rawValue: fd), path: path) else {
                return nil
            }
            var entries: [String: [IPAddress]] = [:]
            for name in names where Self.isBucket(name) {
                entries.merge(read(bucket: name, in: fd)) { $0 + $1 }
            }
            return entries
        } ?? nil
    }

    /// Removes the entries `keep` refuses (GC), each bucket rewritten once.
    func prune(keeping keep: (String) -> Bool) {
        _ = withDirectory(create: false) { fd in
            for name in (try? Directory.entryNames(of: FileDescriptor(rawValue: fd), path: path)) ?? []
            where Self.isBucket(name) {
                let all = lines(of: name, in: fd)
                let kept = all.filter { line in
                    Self.split(line).map { keep(String(decoding: $0.entry, as: UTF8.self)) } ?? false
                }
                if kept.count != all.count { _ = store(bucket: name, kept, in: fd) }
            }
        }
    }

    /// Removes what is not this layout's: other layouts' files (the one file per attachment of
    /// the first releases, buckets and records of other versions) and temporary files of
    /// killed writers.
    func removeStrayFiles() {
        _ = withDirectory(create: false) { fd in
            for name in (try? Directory.entryNames(of: FileDescriptor(rawValue: fd), path: path)) ?? []
            where !Self.isBucket(name) && name != ReservationStore.reconciliationRecord {
                unlinkat(fd, name, 0)
            }
        }
    }
}
