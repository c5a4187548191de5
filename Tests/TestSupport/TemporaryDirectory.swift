import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

public struct TemporaryDirectoryError: Error {}

/// A fresh directory under /tmp, removed by `remove()`.
public struct TemporaryDirectory {
    public let path: String
    public init() throws {
        var template = Array("/tmp/swift-cni-test-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard created != nil else { throw TemporaryDirectoryError() }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    public func remove() {
        _ = try? ChildProcess.run("/bin/rm", arguments: ["-rf", path], environment: [])
    }
    public func files(_ sub: String) -> [String] {
        Directory.entryNames(atPath: path + "/" + sub).sorted()
    }
    /// The keys of host-local's index for `network` in a store here (the owners its
    /// `bucket3.xx` files list, sorted), followed by any other file in the index directory:
    /// temporary files, or the files of earlier layouts.
    public func indexEntries(_ network: String) -> [String] {
        let directory = ".swift-cni-index/" + network
        var entries: Set<String> = []
        var others: [String] = []
        for name in files(directory) {
            guard name.hasPrefix("bucket3."), !name.hasSuffix(".tmp") else {
                others.append(name)
                continue
            }
            for line in (read(directory + "/" + name) ?? "").split(separator: "\n") {
                if let space = line.lastIndex(of: " ") { entries.insert(String(line[..<space])) }
            }
        }
        return entries.sorted() + others
    }

    /// The bucket of host-local's index that holds `key` (`<containerID>:<ifname>`): the
    /// FNV-1a hash modulo 64.
    public static func indexBucket(of key: String) -> String {
        "bucket3." + FNV1a.hex(FNV1a.hash(key.utf8) % 64, digits: 2)
    }

    public func write(_ sub: String, _ content: String) {
        let fd = open(path + "/" + sub, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = Array(content.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
    public func read(_ sub: String) -> String? {
        (try? FileIO.readFile(path + "/" + sub)).map { String(decoding: $0, as: UTF8.self) }
    }
}
