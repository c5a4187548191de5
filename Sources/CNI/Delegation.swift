import JSON
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

/// Runs another plugin (IPAM) the way the spec says (§4, F1-F2): found as `<dir>/<type>` on
/// CNI_PATH, fed the same stdin bytes and environment with only CNI_COMMAND changed, its
/// stderr passed through, its error returned with its own code.
public enum Delegation {
    /// The first regular, executable file named `type` in the CNI_PATH directories (A8).
    public static func find(type: String, in path: [String]) throws(CNIError) -> String {
        guard !type.isEmpty, !type.contains("/"), !type.utf8.contains(0), type != ".", type != ".." else {
            throw CNIError.invalidConfig("invalid plugin type \"\(type)\"")
        }
        for directory in path {
            let candidate = directory.hasSuffix("/") ? directory + type : directory + "/" + type
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw CNIError(
            code: .delegateFailed, msg: "failed to find plugin \"\(type)\" in path [\(path.joined(separator: " "))]")
    }

    /// Executes the delegate for `command`. For ADD the result (any version) is returned in
    /// canonical form; other verbs return nil. A failure is the delegate's own error when it
    /// printed one, else code 101 with what it wrote and how it exited.
    @discardableResult
    public static func run(type: String, command: CNICommand, request: CNIRequest) throws(CNIError) -> CNIResult? {
        let executable = try find(type: type, in: request.environment.path)
        var environment = request.environment.all
        environment["CNI_COMMAND"] = command.rawValue
        let outcome: ChildProcess.Outcome
        do {
            outcome = try ChildProcess.run(
                executable, environment: environment.entries,
                input: request.config.raw)
        } catch {
            throw CNIError(code: .delegateFailed, msg: "failed to run plugin \"\(type)\"", details: error.description)
        }
        let parsed = try? JSONValue.parse(outcome.standardOutput)
        guard outcome.status == 0 else {
            if let parsed, let error = CNIError(json: parsed) { throw error }
            let text = String(decoding: outcome.standardOutput, as: UTF8.self)
            throw CNIError(
                code: .delegateFailed, msg: "plugin \"\(type)\" failed with exit status \(outcome.status)",
                details: text.isEmpty ? nil : text)
        }
        guard command == .add else { return nil }
        guard let parsed else {
            throw CNIError(code: .decodingFailure, msg: "plugin \"\(type)\" printed a result that is not JSON")
        }
        do {
            return try CNIResult(json: parsed, defaultVersion: request.config.cniVersion)
        } catch {
            throw CNIError(
                code: .decodingFailure, msg: "cannot read the result of plugin \"\(type)\"", details: error.description)
        }
    }
}
