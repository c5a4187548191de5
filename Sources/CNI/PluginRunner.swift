import JSON
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// One invocation as the plugin sees it: the validated environment and the decoded config.
public struct CNIRequest: Sendable {
    public var environment: CNIEnvironment
    public var config: NetworkConfig

    public init(environment: CNIEnvironment, config: NetworkConfig) {
        self.environment = environment
        self.config = config
    }

    public var command: CNICommand { environment.command }

    /// CNI_ARGS parsed with the keys this plugin understands (IP, MAC, GATEWAY ...).
    public func cniArgs(knownKeys: Set<String>) throws(CNIError) -> CNIArgs {
        try CNIArgs(parsing: environment.args, knownKeys: knownKeys)
    }
}

/// What each plugin implements; `PluginRunner` does the protocol around it.
public protocol CNIPlugin {
    /// One line saying what the plugin is, printed when it is run without CNI_COMMAND.
    var about: String { get }
    func add(_ request: CNIRequest) throws -> CNIResult
    func delete(_ request: CNIRequest) throws
    func check(_ request: CNIRequest) throws
    func garbageCollect(_ request: CNIRequest) throws
    func status(_ request: CNIRequest) throws
}

/// The skeleton every executable runs: environment and stdin in, the verb dispatched with the
/// spec's version checks, the result or the error out on stdout, and the exit status.
public enum PluginRunner {
    /// Runs `plugin` with the process's environment and stdin and exits.
    /// `--version` as the first argument prints the banner and the supported CNI versions on
    /// stdout and exits 0, whatever the environment.
    public static func main(_ plugin: some CNIPlugin) -> Never {
        if BuildInfo.arguments.dropFirst().first == "--version" {
            FileIO.writeAll(.standardOutput, about(plugin))
            exit(0)
        }
        // A write to a pipe the runtime has closed fails with EPIPE (and the ADD is undone)
        // instead of killing the plugin half-way through its output.
        signal(SIGPIPE, SIG_IGN)
        let stdoutWasOpen = occupyClosedStandardDescriptors()
        let (output, status, about) = run(
            plugin, environment: .current(), readInput: readStandardInput,
            deliver: { stdoutWasOpen && FileIO.writeAll(.standardOutput, $0) }, standardOutputOpen: stdoutWasOpen)
        if let about { FileIO.writeAll(.standardError, about) }
        if !output.isEmpty {
            // Where stdout cannot take the error, stderr (a runtime's log) still may.
            if !stdoutWasOpen || !FileIO.writeAll(.standardOutput, output) { FileIO.writeAll(.standardError, output) }
        }
        exit(status)
    }

    /// Opens /dev/null on each of descriptors 0, 1 and 2 that the runtime left closed, so that
    /// no file the plugin opens later (a lock, a reservation) gets one of those numbers and
    /// receives the result meant for stdout. Returns whether stdout was open.
    static func occupyClosedStandardDescriptors() -> Bool {
        var stdoutWasOpen = true
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            if fd == 1 { stdoutWasOpen = false }
            let null = open("/dev/null", O_RDWR)
            if null >= 0 && null != fd {
                dup2(null, fd)
                FileDescriptor(rawValue: null).closeIgnoringErrors()
            }
        }
        return stdoutWasOpen
    }

    /// The whole protocol without touching the process: returns what to print on stdout, the
    /// exit status, and the description for stderr when there was no CNI_COMMAND.
    ///
    /// An ADD's result is handed to `deliver` (stdout): when it cannot be delivered (stdout
    /// closed, a pipe the runtime closed, a full disk), the runtime can never learn what was
    /// made, so the ADD is undone with the plugin's DEL and fails with code 5; the error, which
    /// cannot reach stdout either, is returned for stderr. Without `deliver` the result is
    /// returned as the output. When stdout was closed from the start (`standardOutputOpen`
    /// false) an ADD is refused before anything is made: code 5.
    public static func run(
        _ plugin: some CNIPlugin, environment: ProcessEnvironment,
        readInput: () throws(CNIError) -> [UInt8], deliver: ((String) -> Bool)? = nil,
        standardOutputOpen: Bool = true
    ) -> (output: String, status: Int32, about: String?) {
        var cniVersion: String?
        do {
            guard let env = try CNIEnvironment.load(from: environment) else {
                return ("", 0, about(plugin))
            }
            let input = try readInput()
            if env.command == .version { return (versionReply(input) + "\n", 0, nil) }
            let config = try NetworkConfig(bytes: input, lenientPrevResult: env.command == .delete)
            cniVersion = config.effectiveVersion
            try checkVersion(config.cniVersion, for: env.command)
            let request = CNIRequest(environment: env, config: config)
            switch env.command {
            case .add:
                guard standardOutputOpen else {
                    throw CNIError(
                        code: .ioFailure,
                        msg: "stdout is closed: the runtime could not read an ADD's result, so nothing was made")
                }
                let result = try plugin.add(request)
                let text: String
                do {
                    text = try result.json(as: cniVersion ?? CNIVersion.current).serialized(indent: 4) + "\n"
                } catch {
                    throw undo(plugin, request, because: error)
                }
                guard let deliver else { return (text, 0, nil) }
                guard deliver(text) else {
                    let reason = SystemError.last("write the result to", "stdout")
                    throw undo(plugin, request, because: CNIError(code: .ioFailure, msg: "cannot \(reason)"))
                }
                return ("", 0, nil)
            case .delete: try plugin.delete(request)
            case .check: try plugin.check(request)
            case .garbageCollect: try plugin.garbageCollect(request)
            case .status: try plugin.status(request)
            case .version: break
            }
            return ("", 0, nil)
        } catch {
            let cniError = classify(error)
            return (cniError.json(cniVersion: cniVersion).serialized(indent: 4) + "\n", 1, nil)
        }
    }

    /// Undoes an ADD that cannot be reported, with the plugin's DEL (the spec's undo of an ADD),
    /// and returns the error to report; an undo that fails is named in its details.
    static func undo(_ plugin: some CNIPlugin, _ request: CNIRequest, because error: any Error) -> CNIError {
        var failure = classify(error)
        var deletion = request
        deletion.environment.command = .delete
        do {
            try plugin.delete(deletion)
            failure.msg += "; the ADD was undone"
        } catch {
            failure.details = [failure.details, "undoing the ADD failed: \(classify(error).msg)"]
                .compactMap { $0 }.joined(separator: "; ")
        }
        return failure
    }

    /// What a plugin says when run by hand: the banner, what it is, the CNI versions.
    static func about(_ plugin: some CNIPlugin) -> String {
        "\(BuildInfo.banner(name: BuildInfo.invokedName))\n\(plugin.about)\n"
            + "CNI protocol versions supported: \(CNIVersion.supported.joined(separator: ", "))\n"
    }

    /// Any error as a CNI error: typed errors say their own code; anything else is 999.
    public static func classify(_ error: any Error) -> CNIError {
        if let convertible = error as? any CNIErrorConvertible { return convertible.cniError }
        return CNIError(code: .internalError, msg: String(describing: error))
    }

    /// E1: echo the input's cniVersion (1.1.0 when there is none) with every supported version.
    static func versionReply(_ input: [UInt8]) -> String {
        let requested = (try? JSONValue.parse(input))?["cniVersion"]?.stringValue ?? ""
        let reply: JSONValue = [
            "cniVersion": .string(requested.isEmpty ? CNIVersion.current : requested),
            "supportedVersions": .array(CNIVersion.supported.map(JSONValue.string)),
        ]
        return reply.serialized()
    }

    /// E2-E4: the config version must be one we support, by exact string ("" is 0.1.0), and
    /// CHECK needs 0.4.0, GC and STATUS 1.1.0.
    static func checkVersion(_ text: String, for command: CNICommand) throws(CNIError) {
        let minimum: (String, CNIVersion)? =
            switch command {
            case .check: ("CHECK", CNIVersion(0, 4, 0))
            case .garbageCollect: ("GC", CNIVersion(1, 1, 0))
            case .status: ("STATUS", CNIVersion(1, 1, 0))
            default: nil
            }
        if let (verb, least) = minimum {
            guard let version = CNIVersion(parsing: text) else {
                throw CNIError(code: .decodingFailure, msg: "failed to parse the config version \"\(text)\"")
            }
            if version < least {
                throw CNIError(code: .incompatibleVersion, msg: "config version does not allow \(verb)")
            }
        }
        let normalized = CNIVersion.effective(text)
        guard CNIVersion.supported.contains(normalized) else {
            let list = CNIVersion.supported.map { "\"\($0)\"" }.joined(separator: " ")
            throw CNIError(
                code: .incompatibleVersion, msg: "incompatible CNI versions",
                details: "config is \"\(text)\", plugin supports [\(list)]")
        }
    }

    /// Reads stdin to the end; a read error is code 5 (A7).
    static func readStandardInput() throws(CNIError) -> [UInt8] {
        do {
            return try FileIO.readAll(.standardInput, limit: 64 << 20)
        } catch {
            throw CNIError(code: .ioFailure, msg: "error reading from stdin", details: error.description)
        }
    }
}
