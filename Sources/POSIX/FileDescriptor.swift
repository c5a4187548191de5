import CSystem

#if canImport(Glibc)
    import Glibc
#endif

/// An open file descriptor with an owner: whoever holds the value closes it, once, with
/// `close()` or at the end of `closeAfter(_:)`. Functions that open something return one, so a
/// raw `Int32` that nobody closes cannot leave them.
public struct FileDescriptor: Sendable, Hashable {
    public let rawValue: Int32

    /// Takes ownership of an open descriptor.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The process's standard descriptors (owned by the process: never closed through these).
    public static let standardInput = FileDescriptor(rawValue: 0)
    public static let standardOutput = FileDescriptor(rawValue: 1)
    public static let standardError = FileDescriptor(rawValue: 2)

    /// The descriptor a call such as open(2), socket(2) or accept4(2) returned, owned from
    /// now on; -1 becomes the call's errno, read once right after it (see `SystemError.check`).
    public init(checking result: Int32, _ operation: @autoclosure () -> String, _ path: @autoclosure () -> String = "")
        throws(SystemError)
    {
        rawValue = try SystemError.check(result, operation(), path())
    }

    /// close(2). EINTR is not retried: Linux has released the number whatever close returns,
    /// and a retry could close a descriptor another thread has just been given. EIO: a write
    /// the kernel had accepted was lost (NFS, a failing disk).
    public func close() throws(SystemError) {
        try SystemError.check(Glibc.close(rawValue), "close", "descriptor \(rawValue)")
    }

    /// Runs `body`, then closes the descriptor whatever happened. The body's error wins over a
    /// close error; after a body that succeeded, a close error is thrown.
    public func closeAfter<R>(_ body: (FileDescriptor) throws(SystemError) -> R) throws(SystemError) -> R {
        let result: R
        do throws(SystemError) {
            result = try body(self)
        } catch {
            _ = Glibc.close(rawValue)
            throw error
        }
        try close()
        return result
    }

    /// Runs `body` and closes the descriptor only when it throws: for a function that opens a
    /// descriptor, sets it up and hands it on.
    @discardableResult
    public func closeOnError<R, Failure: Error>(_ body: (FileDescriptor) throws(Failure) -> R) throws(Failure) -> R {
        do throws(Failure) {
            return try body(self)
        } catch {
            _ = Glibc.close(rawValue)
            throw error
        }
    }

    /// Closes a descriptor whose close has nothing to report: one only read from, or one
    /// being dropped after another error was already thrown.
    public func closeIgnoringErrors() { _ = Glibc.close(rawValue) }
}

extension SystemError {
    /// The one way a failing libc call becomes a `SystemError`: `result` when the call
    /// succeeded (not negative), else the thread's errno, read once right after the call.
    @discardableResult
    public static func check<Result: SignedInteger>(
        _ result: Result, _ operation: @autoclosure () -> String, _ path: @autoclosure () -> String = ""
    ) throws(SystemError) -> Result {
        guard result < 0 else { return result }
        let number = Glibc.errno
        throw SystemError(operation: operation(), path: path(), errno: number)
    }
}

/// A pipe(2) made with O_CLOEXEC (csystem_pipe_cloexec: pipe2), its two ends owned by
/// whoever holds the value. EMFILE/ENFILE: out of descriptors.
public struct Pipe: Sendable {
    public let readEnd: FileDescriptor
    public let writeEnd: FileDescriptor

    public init() throws(SystemError) {
        var ends: [Int32] = [-1, -1]
        guard csystem_pipe_cloexec(&ends) == 0 else { throw .last("pipe") }
        readEnd = FileDescriptor(rawValue: ends[0])
        writeEnd = FileDescriptor(rawValue: ends[1])
    }

    /// Closes both ends (after an error, when nothing more is to be said).
    public func closeBoth() {
        readEnd.closeIgnoringErrors()
        writeEnd.closeIgnoringErrors()
    }
}
