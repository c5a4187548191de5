#if canImport(Glibc)
    import Glibc
#endif

/// A failed system call: what was attempted, on which path (or other object), and the errno
/// it returned. The one error type of this module; other modules wrap it where they need a
/// CNI code of their own (the host-local store maps it to 104, for instance).
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was attempted, in words: "open", "read", "lock", "rename".
    public var operation: String
    /// The path or object it was attempted on; empty when there is none.
    public var path: String
    /// The errno; 0 when the failure was a check of ours (see `problem`).
    public var errno: Int32
    /// Replaces strerror(errno) in the description when the failure is ours, not the
    /// kernel's: "not a regular file".
    public var problem: String?

    public init(operation: String, path: String = "", errno: Int32, problem: String? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.problem = problem
    }

    /// The calling thread's errno, read at once.
    public static func last(_ operation: String, _ path: String = "") -> SystemError {
        SystemError(operation: operation, path: path, errno: Glibc.errno)
    }

    public var description: String {
        let subject = path.isEmpty ? operation : "\(operation) \(path)"
        return "\(subject): \(problem ?? Self.message(for: errno))"
    }

    /// strerror(3) as a String.
    public static func message(for errno: Int32) -> String {
        String(cString: strerror(errno))
    }
}
