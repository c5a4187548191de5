import CNftnl

/// One nf_tables transaction: the commands `nft -f` would send for a script, applied by the
/// kernel all or nothing (one NFNL_MSG_BATCH_BEGIN ... END). Adding what exists changes
/// nothing (NLM_F_CREATE without NLM_F_EXCL), as `nft add` does.
public struct NftablesBatch: Sendable {
    public enum Command: Hashable, Sendable {
        case addTable(NftablesTable)
        case deleteTable(NftablesFamily, String)
        case addChain(NftablesChain)
        /// Deletes every rule of the chain (NFT_MSG_DELRULE naming only the chain).
        case flushChain(NftablesFamily, table: String, chain: String)
        case deleteChain(NftablesFamily, table: String, chain: String)
        case addRule(NftablesRule)
        /// Adds the rule at the head of its chain (NFT_MSG_NEWRULE without NLM_F_APPEND).
        case insertRule(NftablesRule)
        case deleteRule(NftablesFamily, table: String, chain: String, handle: UInt64)
    }

    public private(set) var commands: [Command] = []

    public init() {}

    public var isEmpty: Bool { commands.isEmpty }

    public mutating func add(_ table: NftablesTable) { commands.append(.addTable(table)) }
    public mutating func add(_ chain: NftablesChain) { commands.append(.addChain(chain)) }
    public mutating func add(_ rule: NftablesRule) { commands.append(.addRule(rule)) }
    public mutating func insert(_ rule: NftablesRule) { commands.append(.insertRule(rule)) }
    public mutating func flush(_ family: NftablesFamily, table: String, chain: String) {
        commands.append(.flushChain(family, table: table, chain: chain))
    }
    public mutating func delete(_ family: NftablesFamily, table: String, chain: String) {
        commands.append(.deleteChain(family, table: table, chain: chain))
    }
    public mutating func delete(_ family: NftablesFamily, table: String) {
        commands.append(.deleteTable(family, table))
    }
    /// Deletes a rule of a dump by its handle.
    public mutating func delete(_ rule: NftablesRule) {
        guard let handle = rule.handle else { return }
        commands.append(.deleteRule(rule.family, table: rule.table, chain: rule.chain, handle: handle))
    }
    /// "add table X; delete table X": adding an existing table is a no-op, so the pair removes
    /// the table whether it exists or not, in one transaction.
    public mutating func deleteTableIfPresent(_ family: NftablesFamily, _ name: String) {
        add(NftablesTable(family, name))
        delete(family, table: name)
    }
}

extension NftablesBatch.Command: CustomStringConvertible {
    /// The command as nft's text would say it, for errors.
    public var description: String {
        switch self {
        case .addTable(let table): "add table \(table.family) \(table.name)"
        case .deleteTable(let family, let name): "delete table \(family) \(name)"
        case .addChain(let chain): "add chain \(chain.family) \(chain.table) \(chain.name)"
        case .flushChain(let family, let table, let chain): "flush chain \(family) \(table) \(chain)"
        case .deleteChain(let family, let table, let chain): "delete chain \(family) \(table) \(chain)"
        case .addRule(let rule):
            "add rule \(rule.family) \(rule.table) \(rule.chain)" + (rule.comment.map { " comment \"\($0)\"" } ?? "")
        case .insertRule(let rule):
            "insert rule \(rule.family) \(rule.table) \(rule.chain)" + (rule.comment.map { " comment \"\($0)\"" } ?? "")
        case .deleteRule(let family, let table, let chain, let handle):
            "delete rule \(family) \(table) \(chain) handle \(handle)"
        }
    }

    /// The command's one netlink message, built by libnftnl (nftnl_*_nlmsg_build_payload
    /// after nftnl_nlmsg_build_hdr): NFT_MSG_NEWTABLE / DELTABLE / NEWCHAIN / DELCHAIN /
    /// NEWRULE / DELRULE; `acknowledged` sets NLM_F_ACK (the kernel reports an error of any
    /// message, and acks only those asking: a thousand acks would overflow the receive
    /// buffer, so only a batch's last message asks, as its end marker). nil when the
    /// command cannot be written (a comment over `nftablesCommentLimit` bytes).
    func message(sequence: UInt32, acknowledged: Bool) -> [UInt8]? {
        let create = UInt16(NLM_F_CREATE)
        let ack = acknowledged ? UInt16(NLM_F_ACK) : 0
        switch self {
        case .addTable(let table):
            return tableMessage(table, type: NFT_MSG_NEWTABLE, flags: create | ack, sequence: sequence)
        case .deleteTable(let family, let name):
            return tableMessage(NftablesTable(family, name), type: NFT_MSG_DELTABLE, flags: ack, sequence: sequence)
        case .addChain(let chain):
            return chainMessage(chain, type: NFT_MSG_NEWCHAIN, flags: create | ack, sequence: sequence)
        case .deleteChain(let family, let table, let name):
            return chainMessage(
                NftablesChain(family, table, name), type: NFT_MSG_DELCHAIN, flags: ack, sequence: sequence)
        case .addRule(let rule):
            return ruleMessage(
                rule, type: NFT_MSG_NEWRULE, flags: create | UInt16(NLM_F_APPEND) | ack, sequence: sequence)
        case .insertRule(let rule):
            return ruleMessage(rule, type: NFT_MSG_NEWRULE, flags: create | ack, sequence: sequence)
        case .flushChain(let family, let table, let chain):
            return ruleMessage(
                NftablesRule(family, table, chain, []), type: NFT_MSG_DELRULE, flags: ack, sequence: sequence)
        case .deleteRule(let family, let table, let chain, let handle):
            return ruleMessage(
                NftablesRule(family, table, chain, [], handle: handle), type: NFT_MSG_DELRULE, flags: ack,
                sequence: sequence)
        }
    }
}

/// Room for one message: a rule of the suite is a few hundred bytes.
private let messageRoom = 16384

/// Builds one message into a scratch buffer: the header, then `payload` fills it in.
func buildMessage(
    type: nf_tables_msg_types, family: NftablesFamily, flags: UInt16, sequence: UInt32,
    _ payload: (_ header: UnsafeMutablePointer<nlmsghdr>) -> Void
) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: messageRoom)
    let length = buffer.withUnsafeMutableBytes { raw -> Int in
        guard let base = raw.baseAddress,
            let header = nftnl_nlmsg_build_hdr(
                base.assumingMemoryBound(to: CChar.self), UInt16(type.rawValue), UInt16(family.rawValue), flags,
                sequence)
        else { return 0 }
        payload(header)
        return Int(UnsafeRawPointer(header).load(as: UInt32.self))
    }
    return Array(buffer.prefix(min(length, messageRoom)))
}

private func commentFits(_ comment: String?) -> Bool { (comment?.utf8.count ?? 0) <= nftablesCommentLimit }

/// Hands a comment's user data to `set` (nftnl_{table,chain,rule}_set_data with the object's
/// USERDATA attribute); nothing without a comment.
private func setComment(_ comment: String?, _ set: (UnsafeRawPointer?, UInt32) -> Void) {
    guard let comment else { return }
    commentUserData(comment).withUnsafeBytes { set($0.baseAddress, UInt32($0.count)) }
}

private func tableMessage(_ table: NftablesTable, type: nf_tables_msg_types, flags: UInt16, sequence: UInt32)
    -> [UInt8]?
{
    guard commentFits(table.comment), let object = nftnl_table_alloc() else { return nil }
    defer { nftnl_table_free(object) }
    nftnl_table_set_u32(object, UInt16(NFTNL_TABLE_FAMILY.rawValue), UInt32(table.family.rawValue))
    nftnl_table_set_str(object, UInt16(NFTNL_TABLE_NAME.rawValue), table.name)
    setComment(table.comment) { _ = nftnl_table_set_data(object, UInt16(NFTNL_TABLE_USERDATA.rawValue), $0, $1) }
    return buildMessage(type: type, family: table.family, flags: flags, sequence: sequence) {
        nftnl_table_nlmsg_build_payload($0, object)
    }
}

private func chainMessage(_ chain: NftablesChain, type: nf_tables_msg_types, flags: UInt16, sequence: UInt32)
    -> [UInt8]?
{
    guard commentFits(chain.comment), let object = nftnl_chain_alloc() else { return nil }
    defer { nftnl_chain_free(object) }
    nftnl_chain_set_u32(object, UInt16(NFTNL_CHAIN_FAMILY.rawValue), UInt32(chain.family.rawValue))
    nftnl_chain_set_str(object, UInt16(NFTNL_CHAIN_TABLE.rawValue), chain.table)
    nftnl_chain_set_str(object, UInt16(NFTNL_CHAIN_NAME.rawValue), chain.name)
    if let hook = chain.hook {
        nftnl_chain_set_u32(object, UInt16(NFTNL_CHAIN_HOOKNUM.rawValue), hook.point.rawValue)
        nftnl_chain_set_s32(object, UInt16(NFTNL_CHAIN_PRIO.rawValue), hook.priority)
        nftnl_chain_set_str(object, UInt16(NFTNL_CHAIN_TYPE.rawValue), hook.type)
        nftnl_chain_set_u32(object, UInt16(NFTNL_CHAIN_POLICY.rawValue), UInt32(NF_ACCEPT))
    }
    setComment(chain.comment) { _ = nftnl_chain_set_data(object, UInt16(NFTNL_CHAIN_USERDATA.rawValue), $0, $1) }
    return buildMessage(type: type, family: chain.family, flags: flags, sequence: sequence) {
        nftnl_chain_nlmsg_build_payload($0, object)
    }
}

private func ruleMessage(_ rule: NftablesRule, type: nf_tables_msg_types, flags: UInt16, sequence: UInt32)
    -> [UInt8]?
{
    guard commentFits(rule.comment), let object = nftnl_rule_alloc() else { return nil }
    defer { nftnl_rule_free(object) }
    nftnl_rule_set_u32(object, UInt16(NFTNL_RULE_FAMILY.rawValue), UInt32(rule.family.rawValue))
    nftnl_rule_set_str(object, UInt16(NFTNL_RULE_TABLE.rawValue), rule.table)
    nftnl_rule_set_str(object, UInt16(NFTNL_RULE_CHAIN.rawValue), rule.chain)
    if let handle = rule.handle { nftnl_rule_set_u64(object, UInt16(NFTNL_RULE_HANDLE.rawValue), handle) }
    for expression in rule.expressions {
        guard let made = expression.makeObject() else { return nil }
        nftnl_rule_add_expr(object, made)
    }
    // The comment goes after the expressions, where nft 1.0 puts it (libnftnl's payload
    // builder would put it before them; the kernel takes either): the same bytes as nft's.
    return buildMessage(type: type, family: rule.family, flags: flags, sequence: sequence) { header in
        nftnl_rule_nlmsg_build_payload(header, object)
        setComment(rule.comment) { mnl_attr_put(header, UInt16(NFTA_RULE_USERDATA.rawValue), Int($1), $0) }
    }
}
