import Addressing
import CNI
import CSystem
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// Why the reservation store could not be used: the failed system call, its path and errno
/// (code 104).
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible, CNIErrorConvertible {
    public var failure: SystemError

    public init(_ failure: SystemError) { self.failure = failure }
    public init(operation: String, path: String, errno: Int32) {
        failure = SystemError(operation: operation, path: path, errno: errno)
    }

    public var errno: Int32 { failure.errno }
    public var description: String { failure.description }
    public var cniError: CNIError { CNIError(code: .storeFailure, msg: "host-local store: \(description)") }
}

/// Who holds an address: the file's content, `<containerID>\r\n<ifname>`, or just
/// `<containerID>` in files written by old versions of the reference.
public struct ReservationOwner: Sendable, Equatable, Hashable {
    public var containerID: String
    /// nil for a legacy file that names only the container.
    public var ifName: String?

    /// Byte for byte, as the reference compares a file's content (see `ExactName`).
    public static func == (left: ReservationOwner, right: ReservationOwner) -> Bool {
        ExactName.equal(left.containerID, right.containerID)
            && (left.ifName == nil) == (right.ifName == nil)
            && ExactName.equal(left.ifName ?? "", right.ifName ?? "")
    }

    public func hash(into hasher: inout Hasher) {
        ExactName.hash(containerID, into: &hasher)
        hasher.combine(ifName == nil)
        ExactName.hash(ifName ?? "", into: &hasher)
    }

    /// Reads a file's content the way the reference compares it (white space trimmed); nil
    /// for an empty or unreadable file.
    init?(content: [UInt8]) {
        let text = RawName.decode(content).trimmingWhitespace
        guard !text.isEmpty else { return nil }
        if let separator = text.firstRange(of: "\r\n") {
            containerID = String(text[..<separator.lowerBound])
            ifName = String(text[separator.upperBound...])
        } else {
            containerID = text
            ifName = nil
        }
    }

    init(containerID: String, ifName: String?) {
        self.containerID = containerID
        self.ifName = ifName
    }

    /// The attachment holds this reservation: same container and interface, or a legacy file
    /// of the same container.
    func matches(containerID: String, ifName: String) -> Bool {
        ExactName.equal(self.containerID, containerID) && (self.ifName.map { ExactName.equal($0, ifName) } ?? true)
    }

    var fileContent: String { containerID + "\r\n" + (ifName ?? "") }

    /// The legacy owner of the same container: a file that names the container only.
    var legacy: ReservationOwner { ReservationOwner(containerID: containerID, ifName: nil) }
}

/// One entry of the store named by an address: the address, and its owner (nil when the file
/// is empty or unreadable: still taken, since a concurrent writer may be filling it).
public struct Reservation: Sendable, Equatable {
    public var address: IPAddress
    public var owner: ReservationOwner?
    /// false for a directory, symlink, FIFO or other non-file under an address's name: the
    /// address counts as taken, but the entry is not ours to remove (GC skips it).
    public var isFile: Bool = true
}

/// What one address's name in the network directory holds.
enum AddressEntry: Equatable {
    /// No entry: the address is free.
    case absent
    /// A directory, symlink, FIFO or other non-file: taken, but not ours to touch.
    case notAFile
    /// A reservation file; its owner is nil when it is empty or unreadable.
    case file(owner: ReservationOwner?)
}

/// host-local's on-disk store, byte-compatible with the reference's: `<dataDir>/<network>/`
/// holds one file per address, named by the address, containing `<containerID>\r\n<ifname>`;
/// `last_reserved_ip.<range set index>` holds the last address handed out of each range set;
/// `lock` is taken with flock(2) around every change.
///
/// Besides that, `<dataDir>/.swift-cni-index/<network>/` holds the attachment index
/// (`AttachmentIndex`), which the reference ignores; `StoreSession` is the only user of both and
/// keeps the index exact while it is sealed (`IndexSeal`).
///
/// Every file is opened relative to the directory's descriptor, without following symlinks
/// and without blocking on a FIFO (POSIX's `FileIO.openRegularFile`): nothing planted in the
/// store is ever followed, written through or waited on. Files are read whole.
public final class ReservationStore {
    public let directory: String
    public let indexDirectory: String
    /// The network directory, open for the store's life: every file is opened relative to it.
    let networkDirectory: FileDescriptor
    var directoryFD: Int32 { networkDirectory.rawValue }
    /// The index directory once `indexDirectory(create:)` has opened it.
    private var openedIndexDirectory: FileDescriptor?
    private let lock: FileLock

    /// Creates the network directory (0755) if needed (a symlink to a directory is followed)
    /// and opens its lock file (read-only is enough for flock, so a read-only store can still
    /// be read under the lock).
    public init(dataDirectory: String, network: String) throws(StoreError) {
        directory = dataDirectory + "/" + network
        indexDirectory = dataDirectory + "/.swift-cni-index/" + network
        do throws(SystemError) {
            // A network directory that is a symlink is followed, as the reference's
            // os.MkdirAll and file operations follow it: the lock and the reservations go where
            // it points (nothing inside the directory is ever followed).
            try Directory.create(directory, followingSymlink: true)
            let fd = try Directory.open(directory, followingSymlink: true)
            let lockPath = directory + "/lock"
            lock = try fd.closeOnError { (fd) throws(SystemError) in
                try FileLock("lock", in: fd.rawValue, displayPath: lockPath)
            }
            networkDirectory = fd
        } catch {
            throw StoreError(error)
        }
    }

    deinit {
        networkDirectory.closeIgnoringErrors()
        openedIndexDirectory?.closeIgnoringErrors()
    }

    /// Runs `body` holding the exclusive flock on `lock` (blocking; EINTR retried).
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock(orThrow: { StoreError($0) }, body)
    }

    // MARK: Address files

    /// Creates the address file with its full content at once: the content is written to an
    /// unnamed file (O_TMPFILE) that is then linked to the address's name, so no other
    /// process ever sees it half written, and an existing name is never replaced (EEXIST:
    /// false). Filesystems without O_TMPFILE get O_EXCL creation and a write, as the reference.
    public func reserve(_ address: IPAddress, for owner: ReservationOwner) throws(StoreError) -> Bool {
        do throws(SystemError) {
            return try reserveFile(address.description, content: owner.fileContent.rawBytes)
        } catch {
            throw StoreError(error)
        }
    }

    private func reserveFile(_ name: String, content: [UInt8]) throws(SystemError) -> Bool {
        let path = directory + "/" + name
        if let temporary = try? FileDescriptor(checking: csystem_open_tmpfile(directoryFD, 0o644), "open") {
            let linked = try temporary.closeAfter { (file) throws(SystemError) -> Bool? in
                try FileIO.writeAll(content, to: file, path: path)
                do throws(SystemError) {
                    try SystemError.check(
                        linkat(AT_FDCWD, "/proc/self/fd/\(file.rawValue)", directoryFD, name, AT_SYMLINK_FOLLOW),
                        "link reservation", path)
                    return true
                } catch  where error.errno == EEXIST {
                    return false
                } catch  where [ENOENT, EXDEV, EPERM].contains(error.errno) {
                    return nil  // /proc is not mounted, or linking an O_TMPFILE is refused: fall through.
                }
            }
            if let linked { return linked }
        }
        let file: FileDescriptor
        do throws(SystemError) {
            file = try FileDescriptor(
                checking: openat(directoryFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644),
                "create", path)
        } catch  where error.errno == EEXIST {
            return false
        }
        do throws(SystemError) {
            try file.closeAfter { (file) throws(SystemError) in try FileIO.writeAll(content, to: file, path: path) }
        } catch {
            unlinkat(directoryFD, name, 0)
            throw error
        }
        return true
    }

    /// Removes an address file. Already gone is fine.
    public func remove(_ address: IPAddress) throws(StoreError) {
        do throws(SystemError) {
            try SystemError.check(
                unlinkat(directoryFD, address.description, 0), "remove", directory + "/" + address.description)
        } catch  where error.errno == ENOENT {
            return
        } catch {
            throw StoreError(error)
        }
    }

    /// The owner written in one address file; nil when the file is missing, empty or unreadable.
    public func owner(of address: IPAddress) -> ReservationOwner? {
        if case .file(let owner) = entry(at: address) { return owner }
        return nil
    }

    /// What the address's name holds now.
    func entry(at address: IPAddress) -> AddressEntry {
        switch FileIO.readRegularFileIfPresent(address.description, in: directoryFD) {
        case .missing: return .absent
        case .notRegular: return .notAFile
        case .contents(let bytes): return .file(owner: ReservationOwner(content: bytes))
        case .failed: return .file(owner: nil)
        }
    }

    /// Every entry named by a valid address (`lock`, `last_reserved_ip.*` and anything else
    /// are left out). A directory or other non-file under an address name counts as taken
    /// with no owner and `isFile` false.
    public func reservations() throws(StoreError) -> [Reservation] {
        let names: [String]
        do throws(SystemError) {
            names = try Directory.entryNames(of: networkDirectory, path: directory)
        } catch {
            throw StoreError(error)
        }
        var result: [Reservation] = []
        result.reserveCapacity(names.count)
        for name in names {
            guard let address = IPAddress(name) else { continue }
            switch FileIO.readRegularFileIfPresent(name, in: directoryFD) {
            case .missing:
                continue  // released meanwhile
            case .notRegular:
                result.append(Reservation(address: address, owner: nil, isFile: false))
            case .contents(let bytes):
                result.append(Reservation(address: address, owner: ReservationOwner(content: bytes)))
            case .failed:
                // Unreadable: taken, with no owner; a file only if it is one.
                var size: Int64 = 0
                var isRegular: Int32 = 0
                if csystem_file_size(directoryFD, name, &size, &isRegular) != 0 { continue }
                result.append(Reservation(address: address, owner: nil, isFile: isRegular != 0))
            }
        }
        return result
    }

    /// A regular file of the network directory, whole; nil when it is missing, not a regular
    /// file (never followed, never blocked on) or cannot be read.
    private func readFile(_ name: String) -> [UInt8]? {
        try? FileIO.readRegularFile(name, in: directoryFD, displayPath: directory + "/" + name)
    }

    // MARK: last_reserved_ip

    /// `last_reserved_ip.<index>`; nil when missing or not an address.
    public func lastReserved(rangeSetIndex: Int) -> IPAddress? {
        guard let content = readFile("last_reserved_ip.\(rangeSetIndex)") else { return nil }
        return IPAddress(String(decoding: content, as: UTF8.self).trimmingWhitespace)
    }

    /// Writes `last_reserved_ip.<index>` (the address, no newline, as the reference does). A
    /// symlink or other non-file planted under the name is removed and replaced by a file.
    public func setLastReserved(_ address: IPAddress, rangeSetIndex: Int) throws(StoreError) {
        let name = "last_reserved_ip.\(rangeSetIndex)"
        let path = directory + "/" + name
        do throws(SystemError) {
            let file: FileDescriptor
            do throws(SystemError) {
                file = try FileIO.openRegularFile(name, in: directoryFD, flags: O_WRONLY | O_CREAT, displayPath: path)
            } catch  where error.errno == ELOOP || error.errno == EINVAL {
                try SystemError.check(unlinkat(directoryFD, name, 0), "remove", path)
                file = try FileIO.openRegularFile(
                    name, in: directoryFD, flags: O_WRONLY | O_CREAT | O_EXCL, displayPath: path)
            }
            // Overwritten in place and cut only when the old text was longer: truncating to zero
            // first would free the file's block and allocate it again on every ADD.
            let content = Array(address.description.utf8)
            try file.closeAfter { (file) throws(SystemError) in
                try FileIO.writeAll(content, to: file, path: path)
                var info = stat()
                if fstat(file.rawValue, &info) == 0 && info.st_size > Int64(content.count) {
                    try SystemError.check(ftruncate(file.rawValue, off_t(content.count)), "truncate", path)
                }
            }
        } catch {
            throw StoreError(error)
        }
    }

    // MARK: The attachment index

    var attachmentIndex: AttachmentIndex { AttachmentIndex(path: indexDirectory, directory: indexDirectory(create:)) }

    /// The index directory, opened once (without following a symlink) and kept open for the
    /// store's life; created when `create`. nil when it is missing (and not to be created) or
    /// cannot be opened.
    func indexDirectory(create: Bool) -> FileDescriptor? {
        if let opened = openedIndexDirectory { return opened }
        if create { guard (try? Directory.create(indexDirectory)) != nil else { return nil } }
        guard let fd = try? Directory.open(indexDirectory) else { return nil }
        openedIndexDirectory = fd
        return fd
    }

    /// The addresses the index lists for an attachment (for tests); nil when it cannot be read.
    func indexedAddresses(containerID: String, ifName: String) -> [IPAddress]? {
        attachmentIndex.addresses(of: IndexKey(ReservationOwner(containerID: containerID, ifName: ifName)))
    }
}
