import CSystem
import Netlink
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
    /// lives), and hands over the NLMSG_ERROR it gets as it came, extended ack included.
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

        // NLMSG_ERROR (type 2, flags NLM_F_CAPPED | NLM_F_ACK_TLVS) with error -EBUSY and the
        // kernel's text as NLMSGERR_ATTR_MSG, after a notification-shaped message it skips.
        let ack = Self.ack(error: -EBUSY, text: "device is busy")
        let reply: [UInt8] = [16, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] + ack
        #expect(send(kernel.rawValue, reply, reply.count, 0) == reply.count)
        #expect(Self.readable(answer.reader, within: 10_000).ready)
        var bytes = [UInt8](repeating: 0, count: 4096)
        let length = read(answer.reader.rawValue, &bytes, bytes.count)
        let answered = Array(bytes.prefix(max(length, 0)))
        #expect(answered == ack)
        #expect(
            RouteNetlink.workerAnswer(answered, operation: "delete link #2")
                == .failed(NetlinkError(operation: "delete link #2", errno: EBUSY, extendedAck: "device is busy")))
    }

    /// An NLMSG_ERROR as the kernel sends it with NETLINK_CAP_ACK and NETLINK_EXT_ACK: nlmsgerr
    /// (the error, then the request's header only) and NLMSGERR_ATTR_MSG when `text` is given.
    static func ack(error: Int32, text: String?) -> [UInt8] {
        let echoed: [UInt8] = [20, 0, 0, 0, 17, 0, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        var attribute: [UInt8] = []
        if let text {
            let value = Array(text.utf8) + [0]
            attribute = le16(UInt16(4 + value.count)) + le16(1) + value
            while attribute.count % 4 != 0 { attribute.append(0) }
        }
        let flags: UInt16 = text == nil ? 0x100 : 0x300  // NLM_F_CAPPED, | NLM_F_ACK_TLVS
        let body = withUnsafeBytes(of: error.littleEndian, Array.init) + echoed + attribute
        return le32(UInt32(16 + body.count)) + le16(2) + le16(flags) + le32(1) + le32(0) + body
    }

    /// The answers a worker can give, read as the plugin reads them.
    @Test func workerAnswersAreReadAsPerformReadsAcks() {
        let operation = "delete link #7"
        #expect(RouteNetlink.workerAnswer(Self.ack(error: 0, text: nil), operation: operation) == .succeeded)
        #expect(
            RouteNetlink.workerAnswer(Self.ack(error: -ENODEV, text: nil), operation: operation)
                == .failed(NetlinkError(operation: operation, errno: ENODEV)))
        #expect(
            RouteNetlink.workerAnswer(le32(UInt32(ENOBUFS)), operation: operation)
                == .failed(NetlinkError(operation: operation, errno: ENOBUFS)), "an errno alone: send or receive failed"
        )
        #expect(RouteNetlink.workerAnswer([], operation: operation) == .unreadable, "the worker died")
        #expect(RouteNetlink.workerAnswer([1, 2, 3, 4, 5], operation: operation) == .unreadable)
        let cut = Array(Self.ack(error: -EBUSY, text: "device is busy").prefix(30))
        #expect(RouteNetlink.workerAnswer(cut, operation: operation) == .unreadable, "a message cut short")
    }
}
