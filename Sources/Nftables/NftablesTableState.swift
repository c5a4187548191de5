import Netlink

/// What one table holds now (one listing of tables, chains and rules), so a transaction can
/// change only what differs. That matters beyond the work saved: a commit that deletes or
/// updates anything (re-adding an existing chain is an update) leaves the kernel a release
/// that waits for an RCU grace period, and closing the socket afterwards waits for it
/// (nft_rcv_nl_event flushes the pending destroy work): about 10 ms on a CI kernel. A commit
/// that only adds waits for nothing.
public struct NftablesTableState: Sendable {
    public var family: NftablesFamily
    public var table: String
    public var exists: Bool
    public var chains: Set<String>
    public var rules: [NftablesRule]

    public init(
        _ family: NftablesFamily, _ table: String, exists: Bool, chains: Set<String> = [], rules: [NftablesRule] = []
    ) {
        self.family = family
        self.table = table
        self.exists = exists
        self.chains = chains
        self.rules = rules
    }

    /// The rules of one chain, in order.
    public func rules(in chain: String) -> [NftablesRule] { rules.filter { $0.chain == chain } }
}

extension NftablesSession {
    /// The table's state: NFT_MSG_GETTABLE, GETCHAIN and GETRULE dumps.
    public func state(_ family: NftablesFamily, table: String) throws(NetlinkError) -> NftablesTableState {
        guard try tables().contains(where: { $0.family == family && $0.name == table }) else {
            return NftablesTableState(family, table, exists: false)
        }
        return NftablesTableState(
            family, table, exists: true, chains: Set(try chains(family, table: table)),
            rules: try rules(family, table: table))
    }
}

extension NftablesBatch {
    /// Adds the table unless it exists.
    public mutating func ensure(_ table: NftablesTable, in state: NftablesTableState) {
        if !state.exists { add(table) }
    }

    /// Adds the chain unless it exists (re-adding an existing one is an update in the kernel).
    public mutating func ensure(_ chain: NftablesChain, in state: NftablesTableState) {
        if !state.chains.contains(chain.name) { add(chain) }
    }

    /// Makes `chain` hold exactly `rules`, in order (expressions and comments): nothing when
    /// it already does, else the chain is flushed and the rules added.
    public mutating func ensure(rules: [NftablesRule], chain: String, in state: NftablesTableState) {
        let present = state.rules(in: chain)
        guard !NftablesRule.same(present, rules) else { return }
        if !present.isEmpty { flush(state.family, table: state.table, chain: chain) }
        for rule in rules { add(rule) }
    }

    /// Replaces `present` (rules of a dump) with `wanted`: nothing when they are the same
    /// rules in the same order, else the present ones deleted and the wanted ones added (at
    /// the chain's end, or `atHead`, inserted so that they read in order there).
    public mutating func replace(_ present: [NftablesRule], with wanted: [NftablesRule], atHead: Bool = false) {
        guard !NftablesRule.same(present, wanted) else { return }
        for rule in present { delete(rule) }
        if atHead {
            for rule in wanted.reversed() { insert(rule) }
        } else {
            for rule in wanted { add(rule) }
        }
    }
}
