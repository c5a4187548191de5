import Addressing
import POSIX
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
/// excluded), in the reference plugins' formats (see `FirewallAttachment` for the names).
public protocol FirewallBackend {
    var name: String { get }
    /// nil when the backend can be used; otherwise why not (for STATUS).
    func unusableReason() -> String?
    /// Masquerades traffic from each address (host bits kept: the subnet is excluded).
    func addMasquerade(_ attachment: FirewallAttachment, addresses: [IPPrefix]) throws(FirewallError)
    /// Removes what either implementation's ADD made for the attachment (ours of 0.1.0 too);
    /// needs no address, so it works with the netns gone; nothing there is fine.
    func removeMasquerade(_ attachment: FirewallAttachment) throws(FirewallError)
    /// Removes the masquerade objects of `network` whose attachment is not in `valid`.
    func collectGarbage(network: String, valid: Set<FirewallAttachment>) throws(FirewallError)
}

/// The bridge's MAC spoof check, in nftables (upstream has no iptables variant).
public protocol SpoofCheckFirewall {
    var name: String { get }
    /// nil when the backend can be used; otherwise why not (for STATUS).
    func unusableReason() -> String?
    /// Drops frames from `hostInterface` (the container's port) whose source MAC is not `mac`.
    func addSpoofCheck(_ attachment: FirewallAttachment, hostInterface: String, mac: MACAddress) throws(FirewallError)
    /// Removes the attachment's spoof check (either implementation's); nothing there is fine.
    func removeSpoofCheck(_ attachment: FirewallAttachment) throws(FirewallError)
}

extension NftablesFirewall: SpoofCheckFirewall {}

/// The firewall plugin's backends: what lets a container's addresses be forwarded past a drop
/// policy, and the ingress policies per bridge.
public protocol ForwardFirewall: Sendable {
    var name: String { get }
    /// nil when the backend can be used; otherwise why not (for STATUS).
    func unusableReason() -> String?
    /// Lets the addresses' traffic be forwarded (ADD); what exists is left as it is.
    func allow(_ addresses: [IPAddress], containerID: String) throws(FirewallError)
    /// Removes the container's rules (DEL); nothing there is fine.
    func revoke(_ addresses: [IPAddress], containerID: String) throws(FirewallError)
    /// Throws naming the first of the container's rules that is missing.
    func check(_ addresses: [IPAddress], containerID: String) throws(FirewallError)
    /// Separates `bridge`'s containers from other bridges (and, isolated, from each other).
    func isolate(bridge: String, isolated: Bool, families: Set<IPAddress.Family>) throws(FirewallError)
}

/// Finding and running firewall tools: by absolute path from a fixed list of directories
/// (never a shell), with our arguments only.
public enum FirewallTool {
    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"]

    /// The tool is in one of `searchPath`'s directories.
    public static func isInstalled(_ name: String) -> Bool { find(name) != nil }

    static func find(_ name: String) -> String? {
        for directory in searchPath where access(directory + "/" + name, X_OK) == 0 {
            return directory + "/" + name
        }
        return nil
    }

    /// Runs the tool with `arguments` and `input` on stdin; throws with its stderr when it fails.
    @discardableResult
    static func run(_ name: String, _ arguments: [String], input: String = "", operation: String) throws(FirewallError)
        -> String
    {
        guard let path = find(name) else {
            throw FirewallError(
                tool: name, operation: operation, output: "\(name) not found in \(searchPath.joined(separator: ":"))")
        }
        let outcome: ChildProcess.Outcome
        do {
            outcome = try ChildProcess.run(
                path, arguments: arguments, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"],
                input: Array(input.utf8), captureStandardError: true)
        } catch {
            throw FirewallError(tool: name, operation: operation, output: error.description)
        }
        guard outcome.status == 0 else {
            throw FirewallError(
                tool: name, operation: operation,
                output: String(decoding: outcome.standardError + outcome.standardOutput, as: UTF8.self))
        }
        return String(decoding: outcome.standardOutput, as: UTF8.self)
    }
}
