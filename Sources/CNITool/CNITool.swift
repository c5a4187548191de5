import CNI
import JSON
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

/// `cnitool`: runs a network configuration list on a network namespace, as the CNI project's
/// cnitool does (its cmd/root.go and libcni's AddNetworkList & co.), for trying a network by
/// hand: `cnitool add|check|del|gc|status NETWORK NETNS [-i IFNAME]`. It runs any plugin on
/// CNI_PATH, ours or not, and keeps libcni's result cache, so that it and a libcni runtime
/// (containerd, CRI-O, Podman) can each DEL what the other added.
///
/// Environment: NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_IFNAME (default eth0),
/// CNI_ARGS (`K=V;K=V`), CAP_ARGS (JSON), and ours: CNI_CACHE_DIR (default /var/lib/cni).
public enum CNITool {
    static let usage = """
        usage: cnitool add|check|del|gc|status NETWORK NETNS [-i IFNAME]
          NETCONFPATH  where the network configurations are (default /etc/cni/net.d)
          CNI_PATH     where the plugins are, ':'-separated
          CNI_IFNAME   the interface in the container (default eth0; -i/--ifname overrides)
          CNI_ARGS     KEY=VALUE;KEY=VALUE arguments for the plugins
          CAP_ARGS     capability arguments as JSON, e.g. {"portMappings":[...]}
          CNI_CACHE_DIR where results are cached (default /var/lib/cni, libcni's)

        """

    /// Runs the command line (`arguments[0]` is the program) and exits: 0, or 1 with the
    /// error on stderr (a usage error is 2).
    public static func main(arguments: [String]) -> Never {
        let environment = ProcessEnvironment.current()
        do {
            let output = try run(Array(arguments.dropFirst()), environment: environment)
            if !output.isEmpty { FileIO.writeAll(.standardOutput, output) }
            exit(0)
        } catch let error as CNIToolUsage {
            FileIO.writeAll(.standardError, "cnitool: \(error.description)\n" + usage)
            exit(2)
        } catch {
            FileIO.writeAll(.standardError, "cnitool: \(error)\n")
            exit(1)
        }
    }

    /// The whole command without touching the process: what to print on stdout.
    static func run(_ arguments: [String], environment: ProcessEnvironment) throws -> String {
        var words: [String] = []
        var ifName = environment["CNI_IFNAME"].flatMap { $0.isEmpty ? nil : $0 } ?? "eth0"
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "-h", "--help", "help":
                return usage
            case "-i", "--ifname":
                guard index + 1 < arguments.count else { throw CNIToolUsage("\(argument) needs an interface name") }
                ifName = arguments[index + 1]
                index += 1
            default:
                if argument.hasPrefix("--ifname=") {
                    ifName = String(argument.dropFirst("--ifname=".count))
                } else {
                    words.append(argument)
                }
            }
            index += 1
        }
        guard let verb = words.first else { throw CNIToolUsage("no command") }
        guard words.count == 3 else { throw CNIToolUsage("network name and namespace are required") }
        let list = try NetworkConfigList.load(
            directory: environment["NETCONFPATH"].flatMap { $0.isEmpty ? nil : $0 } ?? "/etc/cni/net.d",
            name: words[1])
        let netns = absolutePath(words[2])
        var runtime = Runtime(
            containerID: "cnitool-" + String(SHA512.hex(netns).prefix(20)), netns: netns, ifName: ifName,
            cniArgs: try cniArgs(environment["CNI_ARGS"] ?? ""),
            capabilityArgs: try capabilityArgs(environment["CAP_ARGS"] ?? ""),
            path: (environment["CNI_PATH"] ?? "").split(separator: ":").map(String.init), environment: environment)
        let cache = ResultCache(
            directory: environment["CNI_CACHE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/lib/cni")
        let chain = Chain(list: list, cache: cache)
        switch verb {
        case "add":
            let result = try chain.add(runtime)
            return result.map { $0.serialized(indent: 4) + "\n" } ?? ""
        case "check": try chain.check(runtime)
        case "del": try chain.delete(runtime)
        case "gc":
            runtime.netns = ""
            try chain.garbageCollect(runtime)
        case "status": try chain.status(runtime)
        default: throw CNIToolUsage("unknown command \"\(verb)\"")
        }
        return ""
    }

    /// `filepath.Abs`: relative to the working directory, cleaned of `.`, `..` and `//`.
    static func absolutePath(_ path: String) -> String {
        var base: [Substring] = []
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: 4096)
            if getcwd(&buffer, buffer.count) != nil {
                base = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    .split(separator: "/")
            }
        }
        var parts = base
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// CNI_ARGS as cnitool parses it: `K=V` pairs split on `;`, each with a key and a value.
    static func cniArgs(_ text: String) throws(CNIToolError) -> [(String, String)] {
        guard !text.isEmpty else { return [] }
        return try text.split(separator: ";", omittingEmptySubsequences: false).map { pair throws(CNIToolError) in
            let parts = pair.split(separator: "=", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw CNIToolError("invalid CNI_ARGS pair \"\(pair)\"")
            }
            return (String(parts[0]), String(parts[1]))
        }
    }

    static func capabilityArgs(_ text: String) throws(CNIToolError) -> JSONObject {
        guard !text.isEmpty else { return JSONObject() }
        guard let object = (try? JSONValue.parse(Array(text.utf8)))?.objectValue else {
            throw CNIToolError("CAP_ARGS is not a JSON object")
        }
        return object
    }
}

/// A usage mistake (exit status 2, with the usage text).
struct CNIToolUsage: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// What libcni's RuntimeConf holds for one call.
struct Runtime {
    var containerID: String
    var netns: String
    var ifName: String
    var cniArgs: [(String, String)]
    var capabilityArgs: JSONObject
    var path: [String]
    /// The tool's own environment, handed to every plugin with the CNI_ variables set.
    var environment: ProcessEnvironment
}
