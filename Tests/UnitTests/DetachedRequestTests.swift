import CSystem
import POSIX
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The worker that sends a DEL's RTM_DELLINK and waits for the kernel's ack in our stead
/// (`csystem_detached_netlink_request`), played against a socket pair instead of the kernel:
/// the test is the kernel, so the worker waits exactly as long as the test says.
@Suite struct DetachedRequestTests {
    /// Both ends of a pipe (O_CLOEXEC).
    static func pipe() throws -> (reader: FileDescriptor, writer: FileDescriptor) {
        var ends: [Int32] = [0, 0]
        try SystemError.check(csystem_pipe_cloexec(&ends), "pipe")
        return (FileDescriptor(rawValue: ends[0]), FileDescriptor(rawValue: ends[1]))
    }

    /// Whether `descriptor` is readable (or at its end) within `milliseconds`.
    static func readable(_ descriptor: FileDescriptor, within milliseconds: Int32) -> (ready: Bool, hangUp: Bool) {
        var entry = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
        let count = poll(&entry, 1, milliseconds)
        return (count > 0, entry.revents & Int16(POLLHUP) != 0)
    }

    /// The worker sends the request as given, keeps no other descriptor of ours while it waits
    /// (the stand-in for the plugin's stdout sees its end at once, though the worker still
    /// lives), and reports the errno of the NLMSG_ERROR it gets.
    @Test func theWorkerSendsWaitsAloneAndReportsTheAnswer() throws {
        var pair: [Int32] = [0, 0]
        try SystemError.check(
            socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair), "socketpair")
        let kernel = FileDescriptor(rawValue: pair[0])
        let workerEnd = FileDescriptor(rawValue: pair[1])
        defer { kernel.closeIgnoringErrors() }
        let answer = try Self.pipe()
        defer { answer.reader.closeIgnoringErrors() }
        let output = try Self.pipe()
        defer { output.reader.closeIgnoringErrors() }

        // A 20-byte request: nlmsghdr (16) + 4 bytes, as the kernel would read it.
        let request: [UInt8] = [20, 0, 0, 0, 17, 0, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0]
        let started = request.withUnsafeBytes {
            csystem_detached_netlink_request(workerEnd.rawValue, $0.baseAddress, $0.count, answer.writer.rawValue)
        }
        #expect(started == 0)
        workerEnd.closeIgnoringErrors()
        answer.writer.closeIgnoringErrors()
        output.writer.closeIgnoringErrors()

        var received = [UInt8](repeating: 0, count: 64)
        let count = recv(kernel.rawValue, &received, received.count, 0)
        #expect(Array(received.prefix(max(count, 0))) == request)
        // The worker waits for the ack now: it holds neither our "stdout" nor anything but
        // its socket and its answer pipe.
        #expect(Self.readable(output.reader, within: 0).hangUp, "the worker still holds a descriptor of ours")
        #expect(!Self.readable(answer.reader, within: 0).ready, "the worker answered before the kernel did")

        // NLMSG_ERROR (type 2) with error -ENODEV, after a notification-shaped message it skips.
        var reply: [UInt8] = [16, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        reply += [36, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        reply += withUnsafeBytes(of: Int32(-ENODEV).littleEndian, Array.init) + request.prefix(16)
        #expect(send(kernel.rawValue, reply, reply.count, 0) == reply.count)
        #expect(Self.readable(answer.reader, within: 10_000).ready)
        var errorNumber: Int32 = -1
        #expect(read(answer.reader.rawValue, &errorNumber, 4) == 4)
        #expect(errorNumber == ENODEV)
    }
}
