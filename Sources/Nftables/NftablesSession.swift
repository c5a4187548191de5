import CNftnl
import Netlink

#if canImport(Glibc)
    import Glibc
#endif

/// nf_tables over a NETLINK_NETFILTER socket of the calling thread's namespace: transactions
/// (`commit`) and the listings DEL, CHECK and GC read (`rules`, `chains`, `tables`), all in the
/// process; no `nft`.
public final class NftablesSession {
    private let transport: NetlinkTransport
    private var nextSequence: UInt32 = 1

    /// Opens a NETLINK_NETFILTER socket here; a receive waits at most 10 s (EAGAIN), so a
    /// kernel that never answers cannot hang the plugin.
    public convenience init() throws(NetlinkError) {
        let socket = try MnlSocket(family: NETLINK_NETFILTER)
        socket.setReceiveTimeout(seconds: 10)
        self.init(transport: socket)
    }

    /// Tests hand a recording transport.
    public init(transport: NetlinkTransport) { self.transport = transport }

    private func sequence() -> UInt32 {
        defer { nextSequence &+= 1 }
        return nextSequence
    }

    /// The datagram of a batch: NFNL_MSG_BATCH_BEGIN, each command's message (numbered from
    /// `first + 1`), NFNL_MSG_BATCH_END; and which command each sequence number is.
    func batchDatagram(_ batch: NftablesBatch) throws(NetlinkError) -> (bytes: [UInt8], commands: [UInt32: Int]) {
        var bytes = frame(begin: true, sequence: sequence())
        var commands: [UInt32: Int] = [:]
        for (index, command) in batch.commands.enumerated() {
            let number = sequence()
            let last = index == batch.commands.count - 1
            guard let message = command.message(sequence: number, acknowledged: last) else {
                throw NetlinkError(
                    operation: "\(command): a comment is longer than \(nftablesCommentLimit) bytes", errno: EINVAL)
            }
            bytes += message
            commands[number] = index
        }
        bytes += frame(begin: false, sequence: sequence())
        return (bytes, commands)
    }

    private func frame(begin: Bool, sequence: UInt32) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 64)
        let length = buffer.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self) else { return 0 }
            let header = begin ? nftnl_batch_begin(base, sequence) : nftnl_batch_end(base, sequence)
            return header.map { Int(UnsafeRawPointer($0).load(as: UInt32.self)) } ?? 0
        }
        return Array(buffer.prefix(length))
    }

    /// Applies the batch as one transaction: one datagram, which the kernel processes while
    /// sending it; then its answers: an error for each command that failed, and the ack of the
    /// last command (the only one asking), which comes last. The first failing command's errno
    /// and extended ack are thrown (the kernel then applied nothing): ENOENT for a table, chain
    /// or rule that is not there, EEXIST, EBUSY for a chain still referenced or not empty,
    /// EPERM without CAP_NET_ADMIN and EOPNOTSUPP without nf_tables (both answered to the
    /// batch's first message), EAGAIN when no answer came for 10 s.
    public func commit(_ batch: NftablesBatch) throws(NetlinkError) {
        guard !batch.isEmpty else { return }
        let (bytes, commands) = try batchDatagram(batch)
        if let socket = transport as? MnlSocket { socket.ensureSendBuffer(bytes.count) }
        try transport.send(bytes)
        guard let last = commands.keys.max(), let first = commands.keys.min() else { return }
        let begin = first - 1
        var failure: (index: Int, error: NetlinkError)?
        var done = false
        while !done {
            for message in NetlinkMessage.split(try transport.receive())
            where message.portID == transport.portID && Int32(message.type) == NLMSG_ERROR {
                let code = RouteNetlink.errorCode(of: message)
                if message.sequence == begin, code != 0 {
                    throw NetlinkError(
                        operation: "nf_tables transaction", errno: -code,
                        extendedAck: RouteNetlink.extendedAck(of: message))
                }
                if message.sequence == last { done = true }
                guard code != 0, let index = commands[message.sequence] else { continue }
                if index < (failure?.index ?? Int.max) {
                    failure = (
                        index,
                        NetlinkError(
                            operation: batch.commands[index].description, errno: -code,
                            extendedAck: RouteNetlink.extendedAck(of: message))
                    )
                }
            }
        }
        if let failure { throw failure.error }
    }

    /// Sends a dump request (NFT_MSG_GET* with NLM_F_DUMP) and hands every reply to `read`
    /// as a whole netlink message. A table that does not exist (ENOENT) dumps as nothing.
    private func dump(
        _ type: nf_tables_msg_types, family: UInt8, operation: String,
        payload: (UnsafeMutablePointer<nlmsghdr>) -> Void = { _ in },
        read: ([UInt8]) -> Void
    ) throws(NetlinkError) {
        let number = sequence()
        var request = [UInt8](repeating: 0, count: 4096)
        let length = request.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self),
                let header = nftnl_nlmsg_build_hdr(
                    base, UInt16(type.rawValue), UInt16(family), UInt16(NLM_F_DUMP | NLM_F_ACK), number)
            else { return 0 }
            payload(header)
            return Int(UnsafeRawPointer(header).load(as: UInt32.self))
        }
        try transport.send(Array(request.prefix(length)))
        while true {
            for message in NetlinkMessage.split(try transport.receive())
            where message.sequence == number && message.portID == transport.portID {
                switch Int32(message.type) {
                case NLMSG_ERROR:
                    let code = RouteNetlink.errorCode(of: message)
                    if code == 0 || code == -ENOENT { return }
                    throw NetlinkError(
                        operation: operation, errno: -code, extendedAck: RouteNetlink.extendedAck(of: message))
                case NLMSG_DONE:
                    return
                case NLMSG_NOOP:
                    continue
                default:
                    read(message.wholeMessage)
                }
            }
        }
    }

    /// The rules of a table (one chain's when `chain` is given), in order, with their handles,
    /// comments and expressions: NFT_MSG_GETRULE dump filtered by table (and chain).
    public func rules(_ family: NftablesFamily, table: String, chain: String? = nil) throws(NetlinkError)
        -> [NftablesRule]
    {
        guard let filter = nftnl_rule_alloc() else { throw NetlinkError(operation: "list rules", errno: ENOMEM) }
        defer { nftnl_rule_free(filter) }
        nftnl_rule_set_u32(filter, UInt16(NFTNL_RULE_FAMILY.rawValue), UInt32(family.rawValue))
        nftnl_rule_set_str(filter, UInt16(NFTNL_RULE_TABLE.rawValue), table)
        if let chain { nftnl_rule_set_str(filter, UInt16(NFTNL_RULE_CHAIN.rawValue), chain) }
        var rules: [NftablesRule] = []
        try dump(
            NFT_MSG_GETRULE, family: family.rawValue, operation: "list rules of \(family) \(table)",
            payload: { nftnl_rule_nlmsg_build_payload($0, filter) },
            read: { message in
                if let rule = Self.parseRule(message), rule.table == table, chain == nil || rule.chain == chain {
                    rules.append(rule)
                }
            })
        return rules
    }

    /// The chains of a table, by name: NFT_MSG_GETCHAIN dump of the family.
    public func chains(_ family: NftablesFamily, table: String) throws(NetlinkError) -> [String] {
        var names: [String] = []
        try dump(NFT_MSG_GETCHAIN, family: family.rawValue, operation: "list chains of \(family) \(table)") {
            message in
            let name = Self.parsed(
                message, { nftnl_chain_alloc() }, { nftnl_chain_nlmsg_parse($0, $1) }, { nftnl_chain_free($0) },
                read: { object -> String? in
                    guard let tableName = nftnl_chain_get_str(object, UInt16(NFTNL_CHAIN_TABLE.rawValue)),
                        String(cString: tableName) == table,
                        let name = nftnl_chain_get_str(object, UInt16(NFTNL_CHAIN_NAME.rawValue))
                    else { return nil }
                    return String(cString: name)
                })
            guard let name else { return }
            names.append(name)
        }
        return names
    }

    /// Every table of every family: NFT_MSG_GETTABLE dump (NFPROTO_UNSPEC).
    public func tables() throws(NetlinkError) -> [NftablesTable] {
        var tables: [NftablesTable] = []
        try dump(NFT_MSG_GETTABLE, family: 0, operation: "list tables") { message in
            let table = Self.parsed(
                message, { nftnl_table_alloc() }, { nftnl_table_nlmsg_parse($0, $1) }, { nftnl_table_free($0) },
                read: { object -> NftablesTable? in
                    let family = UInt8(
                        truncatingIfNeeded: nftnl_table_get_u32(object, UInt16(NFTNL_TABLE_FAMILY.rawValue)))
                    guard let family = NftablesFamily(rawValue: family),
                        let name = nftnl_table_get_str(object, UInt16(NFTNL_TABLE_NAME.rawValue))
                    else { return nil }
                    return NftablesTable(family, String(cString: name))
                })
            guard let table else { return }
            tables.append(table)
        }
        return tables
    }

    /// A dumped rule (NFT_MSG_NEWRULE message) read through nftnl_rule_nlmsg_parse.
    static func parseRule(_ message: [UInt8]) -> NftablesRule? {
        parsed(
            message, { nftnl_rule_alloc() }, { nftnl_rule_nlmsg_parse($0, $1) }, { nftnl_rule_free($0) },
            read: rule(from:))
    }

    /// Parses one dumped message into a fresh libnftnl object (`allocate`, `parse`), reads
    /// it with `read` and frees it, whatever happens; nil when the message does not parse.
    static func parsed<Value>(
        _ message: [UInt8], _ allocate: () -> OpaquePointer?,
        _ parse: (UnsafePointer<nlmsghdr>, OpaquePointer) -> Int32, _ free: (OpaquePointer) -> Void,
        read: (OpaquePointer) -> Value?
    ) -> Value? {
        guard let object = allocate() else { return nil }
        defer { free(object) }
        let status = message.withUnsafeBytes { raw -> Int32 in
            guard let base = raw.baseAddress else { return -1 }
            return parse(base.assumingMemoryBound(to: nlmsghdr.self), object)
        }
        return status >= 0 ? read(object) : nil
    }

    /// The rule a parsed libnftnl rule object holds.
    private static func rule(from object: OpaquePointer) -> NftablesRule? {
        guard
            let family = NftablesFamily(
                rawValue: UInt8(truncatingIfNeeded: nftnl_rule_get_u32(object, UInt16(NFTNL_RULE_FAMILY.rawValue)))),
            let table = nftnl_rule_get_str(object, UInt16(NFTNL_RULE_TABLE.rawValue)),
            let chain = nftnl_rule_get_str(object, UInt16(NFTNL_RULE_CHAIN.rawValue))
        else { return nil }
        var expressions: [NftablesExpression] = []
        if let iterator = nftnl_expr_iter_create(object) {
            while let expression = nftnl_expr_iter_next(iterator) {
                expressions.append(NftablesExpression(object: expression))
            }
            nftnl_expr_iter_destroy(iterator)
        }
        var comment: String?
        var length: UInt32 = 0
        if let data = nftnl_rule_get_data(object, UInt16(NFTNL_RULE_USERDATA.rawValue), &length) {
            comment = userDataComment(Array(UnsafeRawBufferPointer(start: data, count: Int(length))))
        }
        return NftablesRule(
            family, String(cString: table), String(cString: chain), expressions, comment: comment,
            handle: nftnl_rule_get_u64(object, UInt16(NFTNL_RULE_HANDLE.rawValue)))
    }
}
