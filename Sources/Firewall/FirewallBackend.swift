import System
import Addressing
import ProcessRunner
#if canImport(Glibc)
import Glibc
#endif

/// Why a firewall command failed: which tool, what it was asked, and what it said.
public struct FirewallError: Error, Sendable, Equatable, CustomStringConvertible {
    public var tool: String
    public var operation: String
    public var output: String

    public init(tool: String, operation: String, output: String) {
        self.tool = tool
        self.operation = operation
        self.output = output
    }

    public var description: String {
        "\(tool): \(operation) failed" + (output.isEmpty ? "" : ": " + output.trimmingWhitespace)
    }
}

/// Source NAT for a container's addresses to everything outside their subnets (multicast
/// excluded), and the bridge MAC spoof check, each named per network and attachment.
public protocol FirewallBackend {
    var name: String { get }
    /// nil when the backend can be used; otherwise why not (for STATUS).
    func unusableReason() -> String?
    /// Masquerades traffic from each address (host bits kept: the subnet is excluded).
    func addMasquerade(_ tag: AttachmentTag, addresses: [IPPrefix], comment: String) throws(FirewallError)
    /// Removes what `addMasquerade` made for the attachment; nothing there is fine.
    func removeMasquerade(_ tag: AttachmentTag) throws(FirewallError)
    /// Removes the masquerade objects of `network` whose attachment is not in `valid`.
    func collectGarbage(network: String, valid: Set<AttachmentTag>) throws(FirewallError)
}

/// Finding and running firewall tools: by absolute path from a fixed list of directories
/// (never a shell), with our arguments only.
enum FirewallTool {
    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"]

    static func find(_ name: String) -> String? {
        for directory in searchPath where access(directory + "/" + name, X_OK) == 0 {
            return directory + "/" + name
        }
        return nil
    }

    /// Runs the tool with `arguments` and `input` on stdin; throws with its stderr when it fails.
    @discardableResult
    static func run(_ name: String, _ arguments: [String], input: String = "", operation: String) throws(FirewallError) -> String {
        guard let path = find(name) else {
            throw FirewallError(tool: name, operation: operation, output: "\(name) not found in \(searchPath.joined(separator: ":"))")
        }
        let outcome: ChildProcess.Outcome
        do {
            outcome = try ChildProcess.run(path, arguments: arguments, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"],
                                           input: Array(input.utf8), captureStandardError: true)
        } catch {
            throw FirewallError(tool: name, operation: operation, output: error.description)
        }
        guard outcome.status == 0 else {
            throw FirewallError(tool: name, operation: operation,
                                output: String(decoding: outcome.standardError + outcome.standardOutput, as: UTF8.self))
        }
        return String(decoding: outcome.standardOutput, as: UTF8.self)
    }
}
