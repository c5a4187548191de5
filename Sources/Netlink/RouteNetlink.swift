import CMnl
import Namespaces

#if canImport(Glibc)
    import Glibc
#endif

/// An rtnetlink conversation: numbers every request, reads the replies that carry that number
/// and this socket's port id (anything else is a stale reply and is dropped), and turns
/// NLMSG_ERROR into `NetlinkError` with the errno and the kernel's extended-ack text.
///
/// Not thread-safe; plugins are synchronous and each uses its own.
public final class RouteNetlink {
    public let transport: NetlinkTransport
    private var nextSequence: UInt32

    public init(transport: NetlinkTransport, firstSequence: UInt32 = 1) {
        self.transport = transport
        self.nextSequence = firstSequence
    }

    /// A socket in the calling thread's namespace.
    public convenience init() throws(NetlinkError) {
        self.init(transport: try MnlSocket())
    }

    /// A socket inside `namespace`, usable from the current one.
    public convenience init(in namespace: NetworkNamespace) throws {
        self.init(transport: try MnlSocket.open(in: namespace))
    }

    /// Sends a request built with NLM_F_ACK and waits for the kernel's answer: the reply
    /// messages for a GET, then the ack (NLMSG_ERROR with error 0), or the error.
    @discardableResult
    public func perform(_ request: MessageBuilder, operation: @autoclosure () -> String) throws(NetlinkError)
        -> [NetlinkMessage]
    {
        request.header.pointee.nlmsg_flags |= UInt16(NLM_F_ACK)
        return try exchange(request, operation: operation, dump: false)
    }

    /// Sends a NLM_F_DUMP request and collects every reply message up to NLMSG_DONE.
    public func dump(_ request: MessageBuilder, operation: @autoclosure () -> String) throws(NetlinkError)
        -> [NetlinkMessage]
    {
        request.header.pointee.nlmsg_flags |= UInt16(NLM_F_DUMP)
        return try exchange(request, operation: operation, dump: true)
    }

    private func exchange(_ request: MessageBuilder, operation: () -> String, dump: Bool) throws(NetlinkError)
        -> [NetlinkMessage]
    {
        let sequence = nextSequence
        nextSequence &+= 1
        try transport.send(try request.bytes(sequence: sequence, operation: operation))
        var replies: [NetlinkMessage] = []
        while true {
            let datagram = try transport.receive()
            for message in NetlinkMessage.split(datagram) {
                guard message.sequence == sequence, message.portID == transport.portID else { continue }
                switch Int32(message.type) {
                case Int32(NLMSG_ERROR):
                    if let failure = Self.failure(of: message, operation: operation) { throw failure }
                    return replies
                case Int32(NLMSG_DONE):
                    // A dump may end with a negative errno in NLMSG_DONE's payload.
                    if let status = message.payload.load(Int32.self, at: 0), status < 0 {
                        throw NetlinkError(
                            operation: operation(), errno: -status,
                            extendedAck: Self.extendedAck(of: message, offset: MemoryLayout<Int32>.size))
                    }
                    return replies
                case Int32(NLMSG_NOOP):
                    continue
                default:
                    replies.append(message)
                    // A GET without NLM_F_DUMP gets its reply and then the ack; a message
                    // without NLM_F_MULTI in a dump cannot happen, so keep reading either way.
                    if !dump, message.flags & UInt16(NLM_F_MULTI) == 0,
                        request.header.pointee.nlmsg_flags & UInt16(NLM_F_ACK) == 0
                    {
                        return replies
                    }
                }
            }
        }
    }

    /// The failure an NLMSG_ERROR reports, with the kernel's extended-ack text; nil for an ack
    /// (error 0). `operation` is only asked for on a failure.
    public static func failure(of message: NetlinkMessage, operation: () -> String) -> NetlinkError? {
        let error = errorCode(of: message)
        guard error != 0 else { return nil }
        return NetlinkError(operation: operation(), errno: -error, extendedAck: extendedAck(of: message))
    }

    /// nlmsgerr.error: 0 for an ack, a negative errno otherwise. A truncated error message
    /// is reported as EBADMSG rather than read past its end.
    public static func errorCode(of message: NetlinkMessage) -> Int32 {
        message.payload.load(Int32.self, at: 0) ?? -EBADMSG
    }

    /// NLMSGERR_ATTR_MSG from the TLVs after struct nlmsgerr (present when NLM_F_ACK_TLVS is
    /// set). With NLM_F_CAPPED the echoed request is only its header; otherwise it is whole.
    public static func extendedAck(of message: NetlinkMessage, offset: Int? = nil) -> String? {
        let capped = message.flags & UInt16(NLM_F_CAPPED) != 0
        let hasTLVs = message.flags & UInt16(NLM_F_ACK_TLVS) != 0
        guard hasTLVs else { return nil }
        var start: Int
        if let offset {
            start = offset
        } else {
            // struct nlmsgerr = int error + the echoed nlmsghdr [+ its payload unless capped].
            guard let error = message.payload.load(nlmsgerr.self, at: 0) else { return nil }
            start = MemoryLayout<nlmsgerr>.size
            if !capped {
                let echoedLength = Int(error.msg.nlmsg_len)
                start = MemoryLayout<Int32>.size + max(MemoryLayout<nlmsghdr>.size, cmnl_align(echoedLength))
            }
        }
        guard start <= message.payload.count else { return nil }
        let text = NetlinkAttributes(message.payload, from: start).string(Int(NLMSGERR_ATTR_MSG.rawValue))
        return (text?.isEmpty ?? true) ? nil : text
    }
}
