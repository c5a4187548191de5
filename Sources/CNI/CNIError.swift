import JSON

/// A CNI error as the spec defines it (§5 Error): printed as JSON on stdout, non-zero exit.
public struct CNIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var msg: String
    public var details: String?

    public init(code: Code, msg: String, details: String? = nil) {
        self.code = code.rawValue
        self.msg = msg
        self.details = details
    }

    public init(rawCode: Int, msg: String, details: String? = nil) {
        self.code = rawCode
        self.msg = msg
        self.details = details
    }

    /// The spec's reserved codes (0-99) and the ones this suite defines (100 and up).
    public enum Code: Int, Sendable {
        case incompatibleVersion = 1
        case unsupportedField = 2
        case unknownContainer = 3
        case invalidEnvironment = 4
        case ioFailure = 5
        case decodingFailure = 6
        case invalidConfig = 7
        case tryAgainLater = 11
        case pluginNotAvailable = 50
        case limitedConnectivity = 51
        /// A kernel operation (netlink, sysctl, namespace) failed; details carry the errno text.
        case kernelOperationFailed = 100
        /// The delegated plugin (IPAM) could not be found or run.
        case delegateFailed = 101
        /// An address pool has no free address left.
        case addressesExhausted = 102
        /// CHECK found the container's network differs from what ADD made.
        case checkFailed = 103
        /// Something in the plugin's own state store is unusable.
        case storeFailure = 104
        /// An error the plugin did not classify (the reference uses 999 for everything).
        case internalError = 999
    }

    /// The error object (§5): `cniVersion` when known, `code`, `msg`, `details` when not empty.
    public func json(cniVersion: String?) -> JSONValue {
        var object = JSONObject()
        if let cniVersion, !cniVersion.isEmpty { object["cniVersion"] = .string(cniVersion) }
        object["code"] = .integer(code)
        object["msg"] = .string(msg)
        if let details, !details.isEmpty { object["details"] = .string(details) }
        return .object(object)
    }

    /// Reads an error a delegate printed; nil when the text is not an error object.
    public init?(json: JSONValue) {
        guard let code = json["code"]?.intValue, code != 0 else { return nil }
        self.code = code
        self.msg = json["msg"]?.stringValue ?? ""
        self.details = json["details"]?.stringValue
    }

    public var description: String {
        if let details, !details.isEmpty { return "\(msg): \(details)" }
        return msg
    }
}

/// An error type of a lower layer that knows which CNI error it is.
public protocol CNIErrorConvertible: Error {
    var cniError: CNIError { get }
}

extension CNIError: CNIErrorConvertible {
    public var cniError: CNIError { self }
}

extension CNIError {
    public static func invalidConfig(_ msg: String, details: String? = nil) -> CNIError {
        CNIError(code: .invalidConfig, msg: msg, details: details)
    }
}
