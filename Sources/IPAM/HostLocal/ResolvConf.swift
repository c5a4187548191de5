import CNI
import POSIX

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
        do {
            return parse(String(decoding: try FileIO.readFile(path), as: UTF8.self))
        } catch {
            throw CNIError.invalidConfig("resolvConf \(path): \(error.description)")
        }
    }
}
