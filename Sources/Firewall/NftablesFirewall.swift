import Addressing
import JSON

/// nftables through the `nft` tool, in the reference plugins' own formats, so either
/// implementation removes what the other made:
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
/// Each change is one `nft -j -f -` transaction in nft's JSON input (`NftablesTransaction`), so
/// no name from input can change its syntax. Our 0.1.0 release's tables (`scni_masq_…`,
/// `scni_spoof_…`) are removed by DEL and GC too.
public struct NftablesFirewall: FirewallBackend {
    public init() {}
    public var name: String { "nftables" }

    static let table = ReferenceNames.masqueradeTable
    static let checks = ReferenceNames.masqueradeChain

    static func legacyMasqueradeTable(_ tag: AttachmentTag) -> String { "scni_masq_\(tag.network)_\(tag.attachment)" }
    static func legacySpoofTable(_ tag: AttachmentTag) -> String { "scni_spoof_\(tag.network)_\(tag.attachment)" }

    /// `nft` is on this system.
    public static var isInstalled: Bool { FirewallTool.find("nft") != nil }

    public func unusableReason() -> String? {
        do {
            try FirewallTool.run("nft", ["list", "tables"], operation: "list tables")
            return nil
        } catch {
            return error.description
        }
    }

    /// A rule of a listing: its handle, the chain it is in, its comment and its JSON.
    struct ListedRule {
        var handle: Int
        var chain: String
        var comment: String?
        var expression: JSONValue?
    }

    /// The entries of `nft -j -a list <what>` (tables, chains, rules with their handles); a
    /// table or chain that does not exist lists as nothing.
    func listing(_ what: [String]) throws(FirewallError) -> [JSONValue] {
        let output: String
        do {
            output = try FirewallTool.run(
                "nft", ["-j", "-a", "list"] + what, operation: "list \(what.joined(separator: " "))")
        } catch  where error.output.contains("No such file or directory") || error.output.contains("does not exist") {
            return []
        }
        return (try? JSONValue.parse(output))?["nftables"]?.arrayValue ?? []
    }

    /// The rules among a listing's entries.
    static func rules(_ entries: [JSONValue]) -> [ListedRule] {
        entries.compactMap { entry in
            guard let rule = entry["rule"], let handle = rule["handle"]?.intValue,
                let chain = rule["chain"]?.stringValue
            else { return nil }
            return ListedRule(
                handle: handle, chain: chain, comment: rule["comment"]?.stringValue, expression: rule["expr"])
        }
    }

    /// The attachment's masquerade rules in `masq_checks` (their comment starts with its hash),
    /// and whether the chain exists at all.
    func masqueradeRules(_ attachment: FirewallAttachment) throws(FirewallError) -> (
        handles: [Int], chainExists: Bool
    ) {
        let entries = try listing(["chain", "inet", Self.table, Self.checks])
        let handles = Self.rules(entries).filter { $0.comment?.hasPrefix(attachment.nftablesHash) == true }.map(
            \.handle)
        return (handles, entries.contains { $0["chain"] != nil })
    }

    /// Creates the reference's table and `masq_checks` chain with their comments. nft's JSON
    /// input (1.0.6) drops table and chain comments, so this one transaction is text; it holds
    /// only constant names and comments. Adding what exists changes nothing.
    static let masqueradeTableScript = """
        add table inet \(table) { comment "\(ReferenceNames.masqueradeTableComment)" ; }
        add chain inet \(table) \(checks) { comment "\(ReferenceNames.masqueradeChainComment)" ; }

        """

    /// The transaction for `addMasquerade`: the reference's postrouting
    /// chain made anew (multicast returns, the rest goes to `masq_checks`), this attachment's
    /// earlier rules (`stale` handles) replaced by one per address, `ip saddr == A ip daddr !=
    /// SUBNET masquerade` commented with the attachment.
    static func masqueradeTransaction(_ attachment: FirewallAttachment, addresses: [IPPrefix], staleHandles: [Int])
        -> NftablesTransaction
    {
        typealias T = NftablesTransaction
        var transaction = T()
        transaction.add("table", T.table("inet", table))
        transaction.add("chain", T.chain("inet", table, checks))
        transaction.add(
            "chain", T.baseChain("inet", table, "postrouting", type: "nat", hook: "postrouting", priority: 100))
        transaction.flush("chain", T.chain("inet", table, "postrouting"))
        for (family, multicast) in [("ip", "224.0.0.0/4"), ("ip6", "ff00::/8")] {
            if let prefix = IPPrefix(multicast) {
                transaction.add(
                    "rule",
                    T.rule(
                        "inet", table, "postrouting",
                        [T.match("==", T.payload(family, "daddr"), T.prefix(prefix)), T.verdict("return")]))
            }
        }
        transaction.add("rule", T.rule("inet", table, "postrouting", [T.goto(checks)]))
        for handle in staleHandles { transaction.delete("rule", T.ruleHandle("inet", table, checks, handle)) }
        for prefix in addresses {
            let family = prefix.family == .v4 ? "ip" : "ip6"
            transaction.add(
                "rule",
                T.rule(
                    "inet", table, checks, comment: attachment.nftablesComment,
                    [
                        T.match("==", T.payload(family, "saddr"), .string(prefix.address.description)),
                        T.match("!=", T.payload(family, "daddr"), T.prefix(prefix)),
                        T.verdict("masquerade"),
                    ]))
        }
        return transaction
    }

    public func addMasquerade(_ attachment: FirewallAttachment, addresses: [IPPrefix]) throws(FirewallError) {
        let (stale, chainExists) = try masqueradeRules(attachment)
        if !chainExists {
            try FirewallTool.run(
                "nft", ["-f", "-"], input: Self.masqueradeTableScript, operation: "add table inet \(Self.table)")
        }
        try run(
            Self.masqueradeTransaction(attachment, addresses: addresses, staleHandles: stale),
            "add masquerade rules of \(attachment.nftablesHash)")
    }

    /// Runs a transaction (nothing to do when it is empty).
    func run(_ transaction: NftablesTransaction, _ operation: String) throws(FirewallError) {
        guard !transaction.isEmpty else { return }
        try FirewallTool.run("nft", ["-j", "-f", "-"], input: transaction.document, operation: operation)
    }

    /// The reference's rules of the attachment (found by their comment's hash) and our 0.1.0
    /// table; nothing there is fine.
    public func removeMasquerade(_ attachment: FirewallAttachment) throws(FirewallError) {
        var transaction = NftablesTransaction()
        for handle in try masqueradeRules(attachment).handles {
            transaction.delete("rule", NftablesTransaction.ruleHandle("inet", Self.table, Self.checks, handle))
        }
        Self.deleteTable(&transaction, family: "inet", table: Self.legacyMasqueradeTable(attachment.legacyTag))
        try run(transaction, "delete masquerade rules of \(attachment.nftablesHash)")
    }

    /// "add table X; delete table X": adding an existing table is a no-op, so the pair
    /// removes the table whether it exists or not, in one transaction.
    static func deleteTable(_ transaction: inout NftablesTransaction, family: String, table: String) {
        transaction.add("table", NftablesTransaction.table(family, table))
        transaction.delete("table", NftablesTransaction.table(family, table))
    }

    /// The spoof check's transaction: `table bridge nat`, chain
    /// `PREROUTING` (filter, priority -300) jumping from `hostInterface` to the attachment's
    /// chain, which jumps to its `-mac` chain: `ether saddr == MAC return`, else `drop`; every
    /// rule commented with the attachment.
    static func spoofCheckTransaction(_ attachment: FirewallAttachment, hostInterface: String, mac: MACAddress)
        -> NftablesTransaction
    {
        typealias T = NftablesTransaction
        let interfaceChain = attachment.spoofInterfaceChain
        let macChain = attachment.spoofMACChain
        let comment = attachment.spoofComment
        var transaction = T()
        transaction.add("table", T.table("bridge", "nat"))
        transaction.add(
            "chain", T.baseChain("bridge", "nat", "PREROUTING", type: "filter", hook: "prerouting", priority: -300))
        for chain in [interfaceChain, macChain] { transaction.add("chain", T.chain("bridge", "nat", chain)) }
        for chain in [interfaceChain, macChain] { transaction.flush("chain", T.chain("bridge", "nat", chain)) }
        transaction.add(
            "rule",
            T.rule(
                "bridge", "nat", "PREROUTING", comment: comment,
                [T.match("==", T.meta("iifname"), .string(hostInterface)), T.jump(interfaceChain)]))
        transaction.add("rule", T.rule("bridge", "nat", interfaceChain, comment: comment, [T.jump(macChain)]))
        transaction.add(
            "rule",
            T.rule(
                "bridge", "nat", macChain, comment: comment,
                [T.match("==", T.payload("ether", "saddr"), .string(mac.description)), T.verdict("return")]))
        transaction.add("rule", T.rule("bridge", "nat", macChain, comment: comment, [T.verdict("drop")]))
        return transaction
    }

    /// Drops frames from `hostInterface` (the container's bridge port) whose source MAC is not `mac`.
    public func addSpoofCheck(_ attachment: FirewallAttachment, hostInterface: String, mac: MACAddress)
        throws(FirewallError)
    {
        try run(
            Self.spoofCheckTransaction(attachment, hostInterface: hostInterface, mac: mac),
            "add spoof check \(attachment.spoofInterfaceChain)")
    }

    /// The PREROUTING rules jumping to the attachment's chains, then the chains (emptied first:
    /// nft deletes only empty chains), and our 0.1.0 table.
    public func removeSpoofCheck(_ attachment: FirewallAttachment) throws(FirewallError) {
        typealias T = NftablesTransaction
        let entries = try listing(["table", "bridge", "nat"])
        var transaction = T()
        let target = JSONValue.string(attachment.spoofInterfaceChain)
        for rule in Self.rules(entries)
        where rule.chain == "PREROUTING"
            && (rule.comment == attachment.spoofComment
                || rule.expression?.arrayValue?.contains { $0["jump"]?["target"] == target } == true)
        {
            transaction.delete("rule", T.ruleHandle("bridge", "nat", "PREROUTING", rule.handle))
        }
        let existing = Set(entries.compactMap { $0["chain"]?["name"]?.stringValue })
        let present = [attachment.spoofInterfaceChain, attachment.spoofMACChain].filter(existing.contains)
        for chain in present { transaction.flush("chain", T.chain("bridge", "nat", chain)) }
        for chain in present { transaction.delete("chain", T.chain("bridge", "nat", chain)) }
        Self.deleteTable(&transaction, family: "bridge", table: Self.legacySpoofTable(attachment.legacyTag))
        try run(transaction, "delete spoof check \(attachment.spoofInterfaceChain)")
    }

    /// The masquerade rules of `network` (their comment starts with its hash) whose attachment
    /// is not in `valid`, as the reference's GC does; and our 0.1.0 tables of the network.
    /// Spoof-check chains carry no network, so the reference's are left to DEL.
    public func collectGarbage(network: String, valid: Set<FirewallAttachment>) throws(FirewallError) {
        // Kept by their comment's hash: a comment cut at 128 bytes inside a character reads back
        // differently, its hash never does.
        let keep = Set(valid.map(\.nftablesHash))
        let networkHash = ReferenceNames.networkHash(network)
        var transaction = NftablesTransaction()
        for rule in Self.rules(try listing(["chain", "inet", Self.table, Self.checks])) {
            guard let comment = rule.comment, comment.hasPrefix(networkHash + "-"),
                !keep.contains(where: { comment.hasPrefix($0) })
            else { continue }
            transaction.delete("rule", NftablesTransaction.ruleHandle("inet", Self.table, Self.checks, rule.handle))
        }
        let tables = try listing(["tables"])
        let prefix = AttachmentTag.networkPrefix(network)
        let keepLegacy = Set(valid.map(\.legacyTag.attachment))
        for entry in tables {
            guard let table = entry["table"], let name = table["name"]?.stringValue,
                let family = table["family"]?.stringValue
            else { continue }
            for kind in ["scni_masq_", "scni_spoof_"] where name.hasPrefix(kind + prefix + "_") {
                if !keepLegacy.contains(String(name.dropFirst(kind.count + prefix.count + 1))) {
                    transaction.delete("table", NftablesTransaction.table(family, name))
                }
            }
        }
        try run(transaction, "delete stale rules of network \(network)")
    }
}
