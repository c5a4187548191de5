#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing whole buffers on file descriptors.
public enum FileIO {
    /// A failed open(2) or read(2), with its errno.
    public struct ReadError: Error, Sendable, Equatable, CustomStringConvertible {
        public var errno: Int32
        public var description: String { String(cString: strerror(errno)) }
    }

    /// Reads to end of file (EINTR retried), at most `limit` bytes (more is cut off).
    public static func readAll(_ fd: Int32, limit: Int = 1 << 20) throws(ReadError) -> [UInt8] {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while data.count < limit {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, limit - data.count)) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(errno: errno)
            }
            data += chunk[0..<count]
        }
        return data
    }

    /// Opens `path` read-only and reads it whole (see `readAll`).
    public static func readFile(_ path: String, limit: Int = 1 << 20) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(errno: errno) }
        defer { close(fd) }
        return try readAll(fd, limit: limit)
    }

    /// Writes every byte, retrying short writes and EINTR. false on any other error (errno set).
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += count
        }
        return true
    }

    @discardableResult
    public static func writeAll(_ fd: Int32, _ text: String) -> Bool { writeAll(fd, Array(text.utf8)) }
}
