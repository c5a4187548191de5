import Addressing
import Netlink
import Nftables

/// nftables through netlink in the process (`NftablesSession`: libnftnl over libmnl; no `nft`),
/// in the reference plugins' own formats, so either implementation removes what the other
/// made:
///
/// - masquerade (pkg/ip/ipmasq_nftables_linux.go, upstream v1.6+): `table inet
///   cni_plugins_masquerade`, a `postrouting` nat chain returning for multicast and going to
///   `masq_checks`, which holds one rule per address, `ip saddr == A ip daddr != SUBNET
///   masquerade`, commented `<network hash>-<attachment hash>, net: …, if: …, id: …`;
/// - MAC spoof check (pkg/link/spoofcheck.go): `table bridge nat`, chain `PREROUTING` (filter,
///   priority -300) jumping from the container's host port to `cni-br-iface-<id>-<if>`, which
///   jumps to `…-mac`: `ether saddr == MAC return`, else `drop`; all commented
///   `macspoofchk-<id>-<if>`.
///
/// Each change is one nf_tables transaction (one netlink batch); reading is one dump. Our
/// 0.1.0 release's tables (`scni_masq_…`, `scni_spoof_…`) are removed by DEL and GC too.
public struct NftablesFirewall: FirewallBackend {
    public init() {}
    public var name: String { "nftables" }

    static let table = ReferenceNames.masqueradeTable
    static let checks = ReferenceNames.masqueradeChain

    static func legacyMasqueradeTable(_ tag: AttachmentTag) -> String { "scni_masq_\(tag.network)_\(tag.attachment)" }
    static func legacySpoofTable(_ tag: AttachmentTag) -> String { "scni_spoof_\(tag.network)_\(tag.attachment)" }

    /// The kernel answers nf_tables requests here (a table listing works).
    public static var isAvailable: Bool { NftablesFirewall().unusableReason() == nil }

    public func unusableReason() -> String? {
        do {
            _ = try Self.session("list tables") { session throws(NetlinkError) in try session.tables() }
            return nil
        } catch {
            return error.description
        }
    }

    /// Runs `body` with the shared session of the calling thread's namespace (kept open until
    /// the process exits: `NftablesSession.shared` says why); a netlink error becomes a
    /// `FirewallError` naming `operation`.
    static func session<T>(_ operation: String, _ body: (NftablesSession) throws(NetlinkError) -> T)
        throws(FirewallError) -> T
    {
        do {
            return try body(try NftablesSession.shared())
        } catch {
            throw FirewallError(tool: "nf_tables", operation: operation, output: error.description)
        }
    }

    /// The rule set up for the masquerade of one address family's multicast: `ip daddr
    /// 224.0.0.0/4 return`, `ip6 daddr ff00::/8 return`.
    static func multicastReturn(_ multicast: IPPrefix) -> NftablesRule {
        var body = NftablesRuleBody(in: .inet)
        body.address(.destination, multicast)
        body.verdict(.return)
        return NftablesRule(.inet, table, "postrouting", body.expressions)
    }

    /// `ip saddr A ip daddr != SUBNET masquerade`, commented with the attachment.
    static func masqueradeRule(_ attachment: FirewallAttachment, _ prefix: IPPrefix) -> NftablesRule {
        var body = NftablesRuleBody(in: .inet)
        body.address(.source, prefix.address)
        body.address(.destination, equal: false, prefix)
        body.masquerade()
        return NftablesRule(.inet, table, checks, body.expressions, comment: attachment.nftablesComment)
    }

    /// The reference's postrouting chain: multicast returns, the rest goes to `masq_checks`.
    static var postroutingRules: [NftablesRule] {
        ["224.0.0.0/4", "ff00::/8"].compactMap(IPPrefix.init).map(multicastReturn)
            + [NftablesRule(.inet, table, "postrouting", [.verdict(.goto(checks))])]
    }

    /// The transaction for `addMasquerade`, against the table as it is (`state`): the
    /// reference's table and `masq_checks` with their comments and the postrouting chain
    /// (multicast returns, the rest goes to `masq_checks`), each only if missing or not as the
    /// reference makes it; this attachment's rules, one per address, replacing earlier ones
    /// unless they are exactly these. A second container's ADD only adds its rules.
    static func masqueradeBatch(
        _ attachment: FirewallAttachment, addresses: [IPPrefix], state: NftablesTableState
    ) -> NftablesBatch {
        var batch = NftablesBatch()
        batch.ensure(NftablesTable(.inet, table, comment: ReferenceNames.masqueradeTableComment), in: state)
        batch.ensure(NftablesChain(.inet, table, checks, comment: ReferenceNames.masqueradeChainComment), in: state)
        batch.ensure(
            NftablesChain(.inet, table, "postrouting", hook: .init(type: "nat", .postrouting, priority: 100)),
            in: state)
        batch.ensure(rules: postroutingRules, chain: "postrouting", in: state)
        batch.replace(
            state.rules(in: checks).filter { $0.comment?.hasPrefix(attachment.nftablesHash) == true },
            with: addresses.map { masqueradeRule(attachment, $0) })
        return batch
    }

    /// The attachment's rules in `masq_checks` (their comment starts with its hash).
    static func masqueradeRules(_ session: NftablesSession, _ attachment: FirewallAttachment) throws(NetlinkError)
        -> [NftablesRule]
    {
        try session.rules(.inet, table: table, chain: checks).filter {
            $0.comment?.hasPrefix(attachment.nftablesHash) == true
        }
    }

    public func addMasquerade(_ attachment: FirewallAttachment, addresses: [IPPrefix]) throws(FirewallError) {
        try Self.session("add masquerade rules of \(attachment.nftablesHash)") { session throws(NetlinkError) in
            let state = try session.state(.inet, table: Self.table)
            try session.commit(Self.masqueradeBatch(attachment, addresses: addresses, state: state))
        }
    }

    /// The reference's rules of the attachment (found by their comment's hash) and our 0.1.0
    /// table; nothing there is fine.
    public func removeMasquerade(_ attachment: FirewallAttachment) throws(FirewallError) {
        try Self.session("delete masquerade rules of \(attachment.nftablesHash)") { session throws(NetlinkError) in
            var batch = NftablesBatch()
            for rule in try Self.masqueradeRules(session, attachment) { batch.delete(rule) }
            batch.deleteTableIfPresent(.inet, Self.legacyMasqueradeTable(attachment.legacyTag))
            try session.commit(batch)
        }
    }

    /// The spoof check's transaction, against `bridge nat` as it is (`state`): the table and
    /// chain `PREROUTING` (filter, priority -300) if missing, the attachment's rule there
    /// jumping from `hostInterface` to its chain, which jumps to its `-mac` chain: `ether saddr
    /// == MAC return`, else `drop`; every rule commented with the attachment; what is already
    /// exactly so is left alone.
    static func spoofCheckBatch(
        _ attachment: FirewallAttachment, hostInterface: String, mac: MACAddress, state: NftablesTableState
    ) -> NftablesBatch {
        let interfaceChain = attachment.spoofInterfaceChain
        let macChain = attachment.spoofMACChain
        let comment = attachment.spoofComment
        var batch = NftablesBatch()
        batch.ensure(NftablesTable(.bridge, "nat"), in: state)
        batch.ensure(
            NftablesChain(.bridge, "nat", "PREROUTING", hook: .init(type: "filter", .prerouting, priority: -300)),
            in: state)
        for chain in [interfaceChain, macChain] { batch.ensure(NftablesChain(.bridge, "nat", chain), in: state) }
        var allowed = NftablesRuleBody(in: .bridge)
        allowed.etherSource(mac)
        allowed.verdict(.return)
        batch.ensure(
            rules: [
                NftablesRule(.bridge, "nat", macChain, allowed.expressions, comment: comment),
                NftablesRule(.bridge, "nat", macChain, [.verdict(.drop)], comment: comment),
            ], chain: macChain, in: state)
        batch.ensure(
            rules: [NftablesRule(.bridge, "nat", interfaceChain, [.verdict(.jump(macChain))], comment: comment)],
            chain: interfaceChain, in: state)
        var entry = NftablesRuleBody(in: .bridge)
        entry.interfaceName(input: true, hostInterface)
        entry.verdict(.jump(interfaceChain))
        batch.replace(
            state.rules(in: "PREROUTING").filter { $0.comment == comment || $0.targets.contains(interfaceChain) },
            with: [NftablesRule(.bridge, "nat", "PREROUTING", entry.expressions, comment: comment)])
        return batch
    }

    /// Drops frames from `hostInterface` (the container's bridge port) whose source MAC is not `mac`.
    public func addSpoofCheck(_ attachment: FirewallAttachment, hostInterface: String, mac: MACAddress)
        throws(FirewallError)
    {
        try Self.session("add spoof check \(attachment.spoofInterfaceChain)") { session throws(NetlinkError) in
            let state = try session.state(.bridge, table: "nat")
            try session.commit(Self.spoofCheckBatch(attachment, hostInterface: hostInterface, mac: mac, state: state))
        }
    }

    /// The PREROUTING rules jumping to the attachment's chains, then the chains (emptied first:
    /// the kernel deletes only empty chains), and our 0.1.0 table.
    public func removeSpoofCheck(_ attachment: FirewallAttachment) throws(FirewallError) {
        try Self.session("delete spoof check \(attachment.spoofInterfaceChain)") { session throws(NetlinkError) in
            let chains = [attachment.spoofInterfaceChain, attachment.spoofMACChain]
            var batch = NftablesBatch()
            for rule in try session.rules(.bridge, table: "nat", chain: "PREROUTING")
            where rule.comment == attachment.spoofComment || rule.targets.contains(attachment.spoofInterfaceChain) {
                batch.delete(rule)
            }
            let present = chains.filter(Set(try session.chains(.bridge, table: "nat")).contains)
            for chain in present { batch.flush(.bridge, table: "nat", chain: chain) }
            for chain in present { batch.delete(.bridge, table: "nat", chain: chain) }
            batch.deleteTableIfPresent(.bridge, Self.legacySpoofTable(attachment.legacyTag))
            try session.commit(batch)
        }
    }

    /// The masquerade rules of `network` (their comment starts with its hash) whose attachment
    /// is not in `valid`, as the reference's GC does; and our 0.1.0 tables of the network.
    /// Spoof-check chains carry no network, so the reference's are left to DEL.
    public func collectGarbage(network: String, valid: Set<FirewallAttachment>) throws(FirewallError) {
        // Kept by their comment's hash: a comment cut at 128 bytes inside a character reads back
        // differently, its hash never does.
        let keep = Set(valid.map(\.nftablesHash))
        let networkHash = ReferenceNames.networkHash(network)
        try Self.session("delete stale rules of network \(network)") { session throws(NetlinkError) in
            var batch = NftablesBatch()
            for rule in try session.rules(.inet, table: Self.table, chain: Self.checks) {
                guard let comment = rule.comment, comment.hasPrefix(networkHash + "-"),
                    !keep.contains(where: { comment.hasPrefix($0) })
                else { continue }
                batch.delete(rule)
            }
            let prefix = AttachmentTag.networkPrefix(network)
            let keepLegacy = Set(valid.map(\.legacyTag.attachment))
            for table in try session.tables() {
                for kind in ["scni_masq_", "scni_spoof_"] where table.name.hasPrefix(kind + prefix + "_") {
                    if !keepLegacy.contains(String(table.name.dropFirst(kind.count + prefix.count + 1))) {
                        batch.delete(table.family, table: table.name)
                    }
                }
            }
            try session.commit(batch)
        }
    }
}
