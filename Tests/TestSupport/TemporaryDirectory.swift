import ProcessRunner
import System
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
    public func write(_ sub: String, _ content: String) {
        let fd = open(path + "/" + sub, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = Array(content.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
    public func read(_ sub: String) -> String? {
        (try? FileIO.readFile(path + "/" + sub)).map { String(decoding: $0, as: UTF8.self) }
    }
}
