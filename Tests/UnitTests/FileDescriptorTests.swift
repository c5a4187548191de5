import CSystem
import POSIX
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The owned descriptor: which error wins, when it is closed, and errno read once.
@Suite struct FileDescriptorTests {
    /// A pipe whose write end is the descriptor under test: the read end sees end of file
    /// exactly when the write end is closed (a number reused meanwhile by a test running in
    /// parallel cannot make it look open or closed).
    struct Pipe {
        let reader: FileDescriptor
        let writer: FileDescriptor
        init() throws {
            var ends: [Int32] = [0, 0]
            try SystemError.check(csystem_pipe_cloexec(&ends), "pipe")
            reader = FileDescriptor(rawValue: ends[0])
            writer = FileDescriptor(rawValue: ends[1])
            _ = fcntl(reader.rawValue, F_SETFL, O_NONBLOCK)
        }
        /// read(2) of the read end: 0 (end of file) once the writer is closed, EAGAIN before.
        var writerIsClosed: Bool {
            var byte: UInt8 = 0
            return read(reader.rawValue, &byte, 1) == 0
        }
    }

    @Test func closeAfterClosesAndReturnsTheBodysValue() throws {
        let pipe = try Pipe()
        defer { pipe.reader.closeIgnoringErrors() }
        let value = try pipe.writer.closeAfter { (fd) throws(SystemError) -> Int32 in fd.rawValue }
        #expect(value == pipe.writer.rawValue)
        #expect(pipe.writerIsClosed)
    }

    @Test func theBodysErrorWinsOverACloseError() throws {
        // A number that is not open: close fails with EBADF, but the body's error is thrown.
        let notOpen = FileDescriptor(rawValue: 1_000_000)
        #expect(throws: SystemError(operation: "body", errno: EIO)) {
            try notOpen.closeAfter { (_) throws(SystemError) in throw SystemError(operation: "body", errno: EIO) }
        }
        // After a body that succeeded, the close error is thrown.
        #expect(throws: SystemError(operation: "close", path: "descriptor 1000000", errno: EBADF)) {
            try notOpen.closeAfter { (_) throws(SystemError) in }
        }
    }

    @Test func closeOnErrorClosesOnlyOnError() throws {
        let kept = try Pipe()
        defer { kept.reader.closeIgnoringErrors() }
        _ = kept.writer.closeOnError { (_) -> Int in 1 }
        #expect(!kept.writerIsClosed)
        kept.writer.closeIgnoringErrors()
        #expect(kept.writerIsClosed)
        let dropped = try Pipe()
        defer { dropped.reader.closeIgnoringErrors() }
        #expect(throws: SystemError.self) {
            try dropped.writer.closeOnError { (_) throws(SystemError) in
                throw SystemError(operation: "set up", errno: EINVAL)
            }
        }
        #expect(dropped.writerIsClosed)
    }

    @Test func checkReadsErrnoOfTheCall() {
        #expect(throws: SystemError(operation: "open", path: "/nonexistent/x", errno: ENOENT)) {
            try FileDescriptor(checking: open("/nonexistent/x", O_RDONLY), "open", "/nonexistent/x")
        }
        #expect((try? SystemError.check(Int32(5), "call")) == 5)
    }
}
