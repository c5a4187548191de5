import POSIX

/// Why a D-Bus exchange failed.
public enum DBusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No bus to talk to: connect(2) failed (ENOENT: no socket, nothing listens there;
    /// ECONNREFUSED: a stale socket; EACCES: not ours to use).
    case noBus(SystemError)
    /// The bus refused our EXTERNAL authentication (it answered with this line).
    case authenticationRejected(String)
    /// No answer within the time allowed for `operation`.
    case timedOut(operation: String)
    /// The bus closed the connection.
    case disconnected
    /// The other side sent something the specification does not allow (what and where).
    case malformed(String)
    /// A method call was answered with an error: its D-Bus name and its message.
    case remote(name: String, message: String)
    /// A read or write on the connection failed.
    case system(SystemError)

    public var description: String {
        switch self {
        case .noBus(let error): "no D-Bus system bus: \(error)"
        case .authenticationRejected(let line): "the D-Bus system bus refused our authentication: \(line)"
        case .timedOut(let operation): "D-Bus: no answer to \(operation) in time"
        case .disconnected: "D-Bus: the bus closed the connection"
        case .malformed(let what): "D-Bus: malformed message: \(what)"
        case .remote(let name, let message): message.isEmpty ? name : "\(name): \(message)"
        case .system(let error): "D-Bus: \(error)"
        }
    }
}
