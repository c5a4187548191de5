import POSIX

/// The verbs of spec 1.1.0 (§2).
public enum CNICommand: String, Sendable, CaseIterable {
    case add = "ADD"
    case delete = "DEL"
    case check = "CHECK"
    case garbageCollect = "GC"
    case status = "STATUS"
    case version = "VERSION"
}

/// The CNI_* environment of one invocation, validated for its verb (A1-A6; requirement IDs are
/// docs/cni-spec-checklist.md's).
public struct CNIEnvironment: Sendable {
    public var command: CNICommand
    public var containerID: String
    /// CNI_NETNS; empty when the runtime gave none (DEL may get none).
    public var netns: String
    public var ifName: String
    public var args: String
    /// CNI_PATH split on ':' (empty entries dropped).
    public var path: [String]
    /// The whole environment, handed on to delegates unchanged except CNI_COMMAND (A10, F1).
    public var all: ProcessEnvironment

    /// Reads and validates the environment. An empty value counts as missing (A1); every
    /// missing variable the verb needs is named, in the order of A3 (code 4); a bad container
    /// id (A4) or interface name (A5) is code 4 as well. A missing CNI_COMMAND is `nil`:
    /// the caller prints the plugin's description.
    public static func load(from environment: ProcessEnvironment) throws(CNIError) -> CNIEnvironment? {
        func value(_ name: String) -> String { environment[name] ?? "" }
        let commandText = value("CNI_COMMAND")
        if commandText.isEmpty { return nil }
        guard let command = CNICommand(rawValue: commandText) else {
            throw CNIError(code: .invalidEnvironment, msg: "unknown CNI_COMMAND: \(commandText)")
        }
        let required: [String]
        switch command {
        case .add, .check: required = ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"]
        case .delete: required = ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"]
        case .garbageCollect, .status: required = ["CNI_PATH"]
        case .version: required = []
        }
        // CNI_IFNAME may hold any bytes the kernel takes (carried as `RawName`s); the paths and
        // arguments a runtime generates are refused when they are not UTF-8.
        for name in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_ARGS", "CNI_PATH"]
        where value(name).unicodeScalars.contains(where: RawName.isRawByte) {
            throw CNIError(
                code: .invalidEnvironment,
                msg: "\(name) holds bytes that are not UTF-8: swift-cni takes it as UTF-8 text")
        }
        let missing = required.filter { value($0).isEmpty }
        if !missing.isEmpty {
            throw CNIError(
                code: .invalidEnvironment,
                msg: "required env variables [\(missing.joined(separator: ","))] missing")
        }
        let env = CNIEnvironment(
            command: command, containerID: value("CNI_CONTAINERID"), netns: value("CNI_NETNS"),
            ifName: value("CNI_IFNAME"), args: value("CNI_ARGS"),
            path: value("CNI_PATH").split(separator: ":").map(String.init), all: environment)
        if [.add, .delete, .check].contains(command) {
            try validateContainerID(env.containerID)
            try validateInterfaceName(env.ifName)
        }
        return env
    }

    /// A4: `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`.
    public static func validateContainerID(_ id: String) throws(CNIError) {
        guard isValidIdentifier(id) else {
            throw CNIError(code: .invalidEnvironment, msg: "invalid characters in containerID", details: id)
        }
    }

    /// The A4 pattern, which network names follow too (A7).
    public static func isValidIdentifier(_ text: String) -> Bool {
        guard let first = text.utf8.first, isAlphanumeric(first) else { return false }
        return text.utf8.allSatisfy {
            isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// A5: 1-15 bytes, not "." or "..", no '/', ':' or white space.
    public static func validateInterfaceName(_ name: String) throws(CNIError) {
        if name.rawBytes.count > 15 {
            throw CNIError(
                code: .invalidEnvironment, msg: "interface name is too long",
                details: "interface name should be less than 16 characters")
        }
        if name == "." || name == ".." {
            throw CNIError(code: .invalidEnvironment, msg: "interface name is . or ..")
        }
        if name.unicodeScalars.contains(where: { $0 == "/" || $0 == ":" || $0.properties.isWhitespace }) {
            throw CNIError(code: .invalidEnvironment, msg: "interface name contains / or : or whitespace characters")
        }
    }
}

/// CNI_ARGS: `K=V;K=V` (H3). Each pair needs exactly one '='; keys the plugin does not know
/// are an error unless `IgnoreUnknown` is 1 or true.
public struct CNIArgs: Sendable, Equatable {
    public private(set) var values: [String: String] = [:]

    /// Keys runtimes send that every plugin accepts.
    public static let alwaysKnown: Set<String> = [
        "IgnoreUnknown", "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID",
    ]

    public init(parsing text: String, knownKeys: Set<String>) throws(CNIError) {
        guard !text.isEmpty else { return }
        var ignoreUnknown = false
        var pairs: [(String, String)] = []
        for pair in text.split(separator: ";", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw CNIError(code: .invalidEnvironment, msg: "ARGS: invalid pair \"\(pair)\"")
            }
            let key = String(parts[0])
            let value = String(parts[1])
            if key == "IgnoreUnknown" {
                switch value.lowercased() {
                case "1", "true": ignoreUnknown = true
                case "0", "false": ignoreUnknown = false
                default:
                    throw CNIError(code: .invalidEnvironment, msg: "ARGS: invalid value \"\(value)\" for IgnoreUnknown")
                }
            }
            pairs.append((key, value))
        }
        for (key, value) in pairs {
            if !knownKeys.contains(key) && !Self.alwaysKnown.contains(key) && !ignoreUnknown {
                throw CNIError(code: .invalidEnvironment, msg: "ARGS: unknown args \"\(key)\"")
            }
            values[key] = value
        }
    }

    public subscript(key: String) -> String? { values[key] }
}
