import Addressing
import CNI
import CSystem
import ProcessRunner
#if canImport(Glibc)
import Glibc
#endif

/// Why the reservation store could not be used: the path and the errno (code 104).
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible, CNIErrorConvertible {
    public var operation: String
    public var path: String
    public var errno: Int32

    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
    public var cniError: CNIError { CNIError(code: .storeFailure, msg: "host-local store: \(description)") }
}

/// Who holds an address: the file's content, `<containerID>\r\n<ifname>`, or just
/// `<containerID>` in files written by old versions of the reference.
public struct ReservationOwner: Sendable, Equatable, Hashable {
    public var containerID: String
    /// nil for a legacy file that names only the container.
    public var ifName: String?

    /// Reads a file's content the way the reference compares it (white space trimmed); nil
    /// for an empty or unreadable file.
    init?(content: [UInt8]) {
        let text = String(decoding: content, as: UTF8.self).trimmingWhitespace
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
        self.containerID == containerID && (self.ifName == nil || self.ifName == ifName)
    }

    var fileContent: String { containerID + "\r\n" + (ifName ?? "") }
}

/// One address file of the store: the address, and its owner (nil when the file is empty or
/// unreadable: still taken, since a concurrent writer may be filling it).
public struct Reservation: Sendable, Equatable {
    public var address: IPAddress
    public var owner: ReservationOwner?
}

/// host-local's on-disk store, byte-compatible with the reference's: `<dataDir>/<network>/`
/// holds one file per address, named by the address, containing `<containerID>\r\n<ifname>`;
/// `last_reserved_ip.<range set index>` holds the last address handed out of each range set;
/// `lock` is taken with flock(2) around every change.
///
/// Besides that, `<dataDir>/.swift-cni-index/<network>/<containerID>:<ifname>` lists the
/// addresses of each attachment, so DEL and CHECK need not read every file; it is a hint
/// only: what it lists is checked against the address files, and a missing or stale entry
/// falls back to reading them all. The reference ignores it.
public final class ReservationStore {
    public let directory: String
    public let indexDirectory: String
    private let directoryFD: Int32
    private let lockFD: Int32

    /// Creates the network directory (0755) if needed and opens its lock file.
    public init(dataDirectory: String, network: String) throws(StoreError) {
        directory = dataDirectory + "/" + network
        indexDirectory = dataDirectory + "/.swift-cni-index/" + network
        try Self.makeDirectories(directory)
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError(operation: "open", path: directory, errno: errno) }
        let lock = openat(fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lock >= 0 else {
            let error = errno
            close(fd)
            throw StoreError(operation: "open", path: directory + "/lock", errno: error)
        }
        directoryFD = fd
        lockFD = lock
    }

    deinit {
        close(lockFD)
        close(directoryFD)
    }

    /// `mkdir -p` with mode 0755; EEXIST for a path that is a directory is fine, and ENOTDIR
    /// or EEXIST for a file in the way is an error.
    static func makeDirectories(_ path: String) throws(StoreError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw StoreError(operation: "create directory", path: current, errno: errno)
            }
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw StoreError(operation: "stat", path: path, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw StoreError(operation: "use", path: path, errno: ENOTDIR) }
    }

    /// Runs `body` holding the exclusive flock on `lock` (blocking; EINTR retried).
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        while flock(lockFD, LOCK_EX) != 0 {
            if errno != EINTR { throw StoreError(operation: "lock", path: directory + "/lock", errno: errno) }
        }
        defer { flock(lockFD, LOCK_UN) }
        return try body()
    }

    // MARK: Address files

    /// Creates the address file with its full content at once: the content is written to an
    /// unnamed file (O_TMPFILE) that is then linked to the address's name, so no other
    /// process ever sees it half written, and an existing name is never replaced (EEXIST:
    /// false). Filesystems without O_TMPFILE get O_EXCL creation and a write, as the reference.
    public func reserve(_ address: IPAddress, for owner: ReservationOwner) throws(StoreError) -> Bool {
        let name = address.description
        let content = Array(owner.fileContent.utf8)
        let temporary = csystem_open_tmpfile(directoryFD, 0o644)
        if temporary >= 0 {
            defer { close(temporary) }
            guard FileIO.writeAll(temporary, content) else {
                throw StoreError(operation: "write reservation for", path: directory + "/" + name, errno: errno)
            }
            if linkat(AT_FDCWD, "/proc/self/fd/\(temporary)", directoryFD, name, AT_SYMLINK_FOLLOW) == 0 { return true }
            if errno == EEXIST { return false }
            if errno != ENOENT && errno != EXDEV && errno != EPERM {
                throw StoreError(operation: "link reservation", path: directory + "/" + name, errno: errno)
            }
            // /proc is not mounted, or linking an O_TMPFILE is refused: fall through.
        }
        let fd = openat(directoryFD, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 {
            if errno == EEXIST { return false }
            throw StoreError(operation: "create", path: directory + "/" + name, errno: errno)
        }
        defer { close(fd) }
        guard FileIO.writeAll(fd, content) else {
            let error = errno
            unlinkat(directoryFD, name, 0)
            throw StoreError(operation: "write", path: directory + "/" + name, errno: error)
        }
        return true
    }

    /// Removes an address file. Already gone is fine.
    public func remove(_ address: IPAddress) throws(StoreError) {
        if unlinkat(directoryFD, address.description, 0) != 0 && errno != ENOENT {
            throw StoreError(operation: "remove", path: directory + "/" + address.description, errno: errno)
        }
    }

    /// The owner written in one address file; nil when the file is missing, empty or unreadable.
    public func owner(of address: IPAddress) -> ReservationOwner? {
        readFile(address.description).flatMap { ReservationOwner(content: $0) }
    }

    /// Every address file (named by a valid address; `lock`, `last_reserved_ip.*` and anything
    /// else are left out). A directory or other non-file under an address name counts as
    /// taken with no owner.
    public func reservations() throws(StoreError) -> [Reservation] {
        guard let dir = fdopendir(dup(directoryFD)) else {
            throw StoreError(operation: "read directory", path: directory, errno: errno)
        }
        defer { closedir(dir) }
        rewinddir(dir)
        var result: [Reservation] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let address = IPAddress(name) else { continue }
            result.append(Reservation(address: address, owner: readFile(name).flatMap { ReservationOwner(content: $0) }))
        }
        return result
    }

    /// Reads a small file of the network directory; nil when it is not a regular file or
    /// cannot be read. At most 4 KiB: a reservation is a few dozen bytes.
    private func readFile(_ name: String) -> [UInt8]? {
        let fd = openat(directoryFD, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count >= 0 else { return nil }
        return Array(buffer[0..<count])
    }

    // MARK: last_reserved_ip

    /// `last_reserved_ip.<index>`; nil when missing or not an address.
    public func lastReserved(rangeSetIndex: Int) -> IPAddress? {
        guard let content = readFile("last_reserved_ip.\(rangeSetIndex)") else { return nil }
        return IPAddress(String(decoding: content, as: UTF8.self).trimmingWhitespace)
    }

    /// Writes `last_reserved_ip.<index>` (the address, no newline, as the reference does).
    public func setLastReserved(_ address: IPAddress, rangeSetIndex: Int) throws(StoreError) {
        let name = "last_reserved_ip.\(rangeSetIndex)"
        let fd = openat(directoryFD, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError(operation: "open", path: directory + "/" + name, errno: errno) }
        defer { close(fd) }
        guard FileIO.writeAll(fd, Array(address.description.utf8)) else {
            throw StoreError(operation: "write", path: directory + "/" + name, errno: errno)
        }
    }

    // MARK: The attachment index

    private func indexPath(containerID: String, ifName: String) -> String {
        indexDirectory + "/" + containerID + ":" + ifName
    }

    /// The addresses the index lists for an attachment; nil when it has no entry.
    public func indexedAddresses(containerID: String, ifName: String) -> [IPAddress]? {
        let fd = open(indexPath(containerID: containerID, ifName: ifName), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n").compactMap { IPAddress($0) }
    }

    /// Records an attachment's addresses (written to a temporary name and renamed over the
    /// entry, so a reader sees the old or the new list). Failing to write the hint is not an
    /// error: lookups fall back to reading the address files.
    public func index(_ addresses: [IPAddress], containerID: String, ifName: String) {
        guard (try? Self.makeDirectories(indexDirectory)) != nil else { return }
        let path = indexPath(containerID: containerID, ifName: ifName)
        let temporary = path + ".tmp\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let written = FileIO.writeAll(fd, Array(addresses.map(\.description).joined(separator: "\n").utf8))
        close(fd)
        if !written || rename(temporary, path) != 0 { unlink(temporary) }
    }

    public func removeIndex(containerID: String, ifName: String) {
        unlink(indexPath(containerID: containerID, ifName: ifName))
    }

    /// Removes index entries of attachments outside `keep` (GC).
    public func pruneIndex(keeping keep: Set<String>) {
        guard let dir = opendir(indexDirectory) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." || keep.contains(name) { continue }
            unlink(indexDirectory + "/" + name)
        }
    }
}


extension String {
    var trimmingWhitespace: String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let end = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[start...end])
    }
}
