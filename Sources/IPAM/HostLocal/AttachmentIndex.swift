import Addressing
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// The key of one owner in the attachment index: `<containerID>:<ifname>` for an attachment,
/// `<containerID>` alone for a legacy reservation (an old reference's file naming the container
/// only), `.ownerless` for address files with no owner (empty or unreadable). Inside the names,
/// `%`, `:`, space, control and non-ASCII bytes are written `%XX`, so every owner has a key
/// (names that are not UTF-8 too), no two owners share one, and a key is ASCII without the
/// line's separator.
struct IndexKey: Hashable, Sendable {
    let text: String

    static func == (left: IndexKey, right: IndexKey) -> Bool { ExactName.equal(left.text, right.text) }
    func hash(into hasher: inout Hasher) { ExactName.hash(text, into: &hasher) }

    static let ownerless = IndexKey(text: ".ownerless")

    init(_ owner: ReservationOwner?) {
        guard let owner else {
            self = .ownerless
            return
        }
        let containerID = Self.escape(owner.containerID)
        text = owner.ifName.map { containerID + ":" + Self.escape($0) } ?? containerID
    }

    private init(text: String) { self.text = text }

    /// Whom a key names.
    enum Named: Equatable {
        case ownerless
        case owner(ReservationOwner)
        /// Not a key this layout writes (a hand-edited line).
        case unparsable
    }

    var named: Named {
        if self == .ownerless { return .ownerless }
        let parts = text.utf8.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard parts.count <= 2, let containerID = Self.unescape(parts[0]) else { return .unparsable }
        guard parts.count == 2 else { return .owner(ReservationOwner(containerID: containerID, ifName: nil)) }
        guard let ifName = Self.unescape(parts[1]) else { return .unparsable }
        return .owner(ReservationOwner(containerID: containerID, ifName: ifName))
    }

    init?(parsing bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty else { return nil }
        text = String(decoding: bytes, as: UTF8.self)
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte <= 0x20 || byte >= 0x7f || byte == UInt8(ascii: "%") || byte == UInt8(ascii: ":")
    }

    static func escape(_ name: String) -> String {
        let raw = name.rawBytes
        guard raw.contains(where: needsEscape) else { return name }
        var bytes: [UInt8] = []
        for byte in raw {
            if needsEscape(byte) {
                bytes += Array("%".utf8) + Array(FNV1a.hex(UInt64(byte), digits: 2).uppercased().utf8)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func unescape(_ bytes: Substring.UTF8View.SubSequence) -> String? {
        var result: [UInt8] = []
        var iterator = bytes.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                result.append(byte)
                continue
            }
            guard let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            else { return nil }
            result.append(value)
        }
        return RawName.decode(result)
    }
}

/// host-local's attachment index: which addresses each owner of the store holds, so DEL, CHECK
/// and ADD's duplicate check read one small file instead of every reservation (the reference
/// ignores it). In `<dataDir>/.swift-cni-index/<network>/`, 64 bucket files `bucket3.<xx>`
/// (xx: the key's FNV-1a hash modulo 64, in hex) hold lines `<key> <address>` (see
/// `IndexKey`). Buckets keep the number of files small whatever the number of owners: indexing
/// a store of thousands written by others creates 64 files, not thousands.
///
/// This type only reads and writes buckets; whether they can be trusted is `StoreSession`'s
/// business. Each bucket is replaced whole (POSIX's `AtomicFile`: a reader sees the old or the
/// new content, and the rename changes the index directory's mtime, which the seal relies on);
/// callers hold the store's lock, so there is one writer at a time. Every file is opened
/// relative to the directory, never through a symlink.
struct AttachmentIndex {
    static let bucketCount = 64
    /// The layout's version: in the bucket names and in the seal (see `IndexSeal`), so a store
    /// indexed in another layout is never trusted and is rebuilt once. 1: a file per attachment;
    /// 2: buckets with a reconciliation record, which could go stale (0.2.0 development);
    /// 3: buckets rebuilt from a full read whenever they cannot be trusted.
    static let layout = 3
    static let bucketPrefix = "bucket\(layout)."

    /// A bucket file of this layout (not a killed writer's temporary file).
    static func isBucket(_ name: String) -> Bool { name.hasPrefix(bucketPrefix) && !name.hasSuffix(".tmp") }

    let path: String
    /// The open index directory (created first when asked); nil when it cannot be had. The
    /// descriptor belongs to the store.
    let directory: (_ create: Bool) -> FileDescriptor?

    /// The bucket file of a key.
    static func bucket(of key: IndexKey) -> String {
        bucketPrefix + FNV1a.hex(FNV1a.hash(key.text.utf8) % UInt64(bucketCount), digits: 2)
    }

    /// A bucket's lines, as bytes; nil when it cannot be read, none when it is missing.
    private func lines(of bucket: String, in fd: FileDescriptor) -> [ArraySlice<UInt8>]? {
        switch FileIO.readRegularFileIfPresent(bucket, in: fd.rawValue) {
        case .contents(let bytes): return bytes.split(separator: UInt8(ascii: "\n"))
        case .missing: return []
        case .notRegular, .failed: return nil
        }
    }

    /// A line's key part (before its last space) and address part, as bytes.
    private static func fields(_ line: ArraySlice<UInt8>) -> (key: ArraySlice<UInt8>, address: ArraySlice<UInt8>)? {
        guard let space = line.lastIndex(of: UInt8(ascii: " ")) else { return nil }
        return (line[line.startIndex..<space], line[(space + 1)...])
    }

    private static func address(_ field: ArraySlice<UInt8>) -> IPAddress? {
        IPAddress(String(decoding: field, as: UTF8.self))
    }

    /// A line's key and address.
    private static func parse(_ line: ArraySlice<UInt8>) -> (key: IndexKey, address: IPAddress)? {
        guard let (keyField, addressField) = fields(line), let key = IndexKey(parsing: keyField),
            let address = address(addressField)
        else { return nil }
        return (key, address)
    }

    private static func line(_ key: IndexKey, _ address: IPAddress) -> [UInt8] {
        Array((key.text + " " + address.description).utf8)
    }

    /// The addresses listed for `key` (empty when it has none); nil when the index cannot be
    /// read. Only that key's lines are decoded.
    func addresses(of key: IndexKey) -> [IPAddress]? {
        guard let fd = directory(false), let bucketLines = lines(of: Self.bucket(of: key), in: fd) else {
            return nil
        }
        let wanted = Array(key.text.utf8)
        var addresses: [IPAddress] = []
        for line in bucketLines {
            guard let (key, field) = Self.fields(line), key.elementsEqual(wanted), let address = Self.address(field)
            else { continue }
            addresses.append(address)
        }
        return addresses
    }

    /// Every key of every bucket with its addresses; nil when the index cannot be read.
    func all() -> [IndexKey: [IPAddress]]? {
        guard let fd = directory(false), let names = try? Directory.entryNames(of: fd, path: path) else {
            return nil
        }
        var entries: [IndexKey: [IPAddress]] = [:]
        for name in names where Self.isBucket(name) {
            guard let bucketLines = lines(of: name, in: fd) else { return nil }
            for line in bucketLines {
                guard let (key, address) = Self.parse(line) else { continue }
                entries[key, default: []].append(address)
            }
        }
        return entries
    }

    /// Sets the addresses of several keys (an empty list removes one), reading and writing
    /// each bucket concerned once; the other keys' lines are kept as they are. false when a
    /// bucket could not be read or written.
    func update(_ changes: [IndexKey: [IPAddress]]) -> Bool {
        guard !changes.isEmpty else { return true }
        guard let fd = directory(true) else { return false }
        var byBucket: [String: [IndexKey]] = [:]
        for key in changes.keys { byBucket[Self.bucket(of: key), default: []].append(key) }
        for (bucket, keys) in byBucket {
            guard let current = lines(of: bucket, in: fd) else { return false }
            let changed = keys.map { Array($0.text.utf8) }
            let kept = current.filter { line in
                guard let (key, _) = Self.fields(line) else { return false }
                return !changed.contains { key.elementsEqual($0) }
            }
            let added = keys.flatMap { key in (changes[key] ?? []).map { ArraySlice(Self.line(key, $0)) } }
            guard store(bucket: bucket, kept + added, replacing: current, in: fd) else { return false }
        }
        return true
    }

    /// Makes the index hold exactly `entries`: every bucket whose content differs is rewritten,
    /// every other file in the index directory (other layouts' files, killed writers'
    /// temporary files) removed. false when any of it failed.
    func rebuild(_ entries: [IndexKey: [IPAddress]]) -> Bool {
        guard let fd = directory(true), let names = try? Directory.entryNames(of: fd, path: path) else {
            return false
        }
        var desired: [String: [ArraySlice<UInt8>]] = [:]
        for (key, addresses) in entries where !addresses.isEmpty {
            desired[Self.bucket(of: key), default: []] += addresses.map { ArraySlice(Self.line(key, $0)) }
        }
        var succeeded = true
        for name in names where !Self.isBucket(name) {
            if unlinkat(fd.rawValue, name, 0) != 0 && errno != ENOENT { succeeded = false }
        }
        for bucket in Set(desired.keys).union(names.filter(Self.isBucket)) {
            guard let current = lines(of: bucket, in: fd),
                store(bucket: bucket, desired[bucket] ?? [], replacing: current, in: fd)
            else {
                succeeded = false
                continue
            }
        }
        return succeeded
    }

    /// Replaces a bucket's `current` lines with `lines` (nothing is written when they are the
    /// same lines in any order), or removes the bucket when there are none.
    private func store(
        bucket name: String, _ lines: [ArraySlice<UInt8>], replacing current: [ArraySlice<UInt8>], in fd: FileDescriptor
    ) -> Bool {
        if lines.count == current.count
            && lines.map(Array.init).sorted(by: Self.lexicographic)
                == current.map(Array.init).sorted(by: Self.lexicographic)
        {
            return true
        }
        guard !lines.isEmpty else {
            unlinkat(fd.rawValue, AtomicFile.temporaryName(for: name), 0)
            return unlinkat(fd.rawValue, name, 0) == 0 || errno == ENOENT
        }
        var text: [UInt8] = []
        for line in lines {
            text += line
            text.append(UInt8(ascii: "\n"))
        }
        return (try? AtomicFile.replace(name, in: fd.rawValue, with: text)) != nil
    }

    private static func lexicographic(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        left.lexicographicallyPrecedes(right)
    }
}
