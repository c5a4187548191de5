import CNI
import JSON
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// `dhcp leases [-socketpath P] [--json]`: what the running daemon holds, one line per lease
/// (container, network, interface, family, address, server, state, expires), or the JSON
/// array the daemon sends with `--json`. Exit 1 with a message when the daemon cannot be asked.
enum LeaseListing {
    static let usage = "usage: dhcp leases [-socketpath PATH] [--json]   (default socket /run/cni/dhcp.sock)"

    static func main(arguments: [String]) -> Never {
        var socketPath = "/run/cni/dhcp.sock"
        var json = false
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "-socketpath", "--socketpath":
                guard let path = iterator.next() else { fail(usage) }
                socketPath = path
            case "--json", "-json": json = true
            case "-h", "--help":
                FileIO.writeAll(.standardOutput, usage + "\n")
                exit(0)
            default: fail("unknown argument \(argument)\n" + usage)
            }
        }
        let reply: JSONValue
        do {
            let fd = try UnixSocket.connect(socketPath, timeout: 2)
            defer { fd.closeIgnoringErrors() }
            FileIO.writeAll(fd, DaemonRequest(command: .leases).json.serialized() + "\n")
            guard let line = UnixSocket.readLine(fd, timeout: 10), let parsed = try? JSONValue.parse(line) else {
                fail("the dhcp daemon at \(socketPath) gave no answer (is it swift-cni's? see docs/upgrading.md)")
            }
            reply = parsed
        } catch {
            fail("cannot reach the dhcp daemon at \(socketPath): \(SystemError.message(for: error.errno))")
        }
        guard reply["ok"]?.boolValue == true, let leases = reply["leases"]?.arrayValue else {
            fail("the dhcp daemon at \(socketPath) refused: \(reply["msg"]?.stringValue ?? reply.serialized())")
        }
        if json {
            FileIO.writeAll(.standardOutput, JSONValue.array(leases).serialized(indent: 2) + "\n")
            exit(0)
        }
        let columns = ["container", "network", "interface", "family", "address", "server", "state", "expires"]
        var rows = [columns.map { $0.uppercased() }]
        rows += leases.map { lease in columns.map { lease[$0]?.stringValue ?? "-" } }
        let widths = columns.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            let padded = row.enumerated().map { index, text in
                index == row.count - 1 ? text : text + String(repeating: " ", count: widths[index] - text.count)
            }
            FileIO.writeAll(.standardOutput, padded.joined(separator: "  ") + "\n")
        }
        exit(0)
    }

    static func fail(_ message: String) -> Never {
        FileIO.writeAll(.standardError, "dhcp leases: \(message)\n")
        exit(1)
    }
}
