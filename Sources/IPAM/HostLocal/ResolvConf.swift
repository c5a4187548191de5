import CNI
#if canImport(Glibc)
import Glibc
#endif

/// Reads a resolv.conf into the result's DNS, as the reference does: `nameserver`, `domain`,
/// `search` and `options` lines; comments (# or ;) and short lines skipped.
public enum ResolvConf {
    public static func parse(_ text: String) -> DNS {
        var dns = DNS()
        for rawLine in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = String(rawLine).trimmingWhitespace
            guard let first = line.first, first != "#", first != ";" else { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count >= 2 else { continue }
            switch fields[0] {
            case "nameserver": dns.nameservers.append(fields[1])
            case "domain": dns.domain = fields[1]
            case "search": dns.search += fields[1...]
            case "options": dns.options += fields[1...]
            default: break
            }
        }
        return dns
    }

    /// Reads and parses the file; code 7 naming the path when it cannot be read.
    public static func load(_ path: String) throws(CNIError) -> DNS {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CNIError.invalidConfig("resolvConf \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw CNIError.invalidConfig("resolvConf \(path): \(String(cString: strerror(errno)))") }
            if count == 0 || data.count > 1 << 20 { break }
            data += chunk[0..<count]
        }
        return parse(String(decoding: data, as: UTF8.self))
    }
}
