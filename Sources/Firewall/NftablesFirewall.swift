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
/// Each change is one `nft -f -` transaction. Our 0.1.0 release's tables (`scni_masq_…`,
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

    /// The handles of the attachment's masquerade rules in `masq_checks` (their comment starts
    /// with its hash).
    func masqueradeHandles(_ attachment: FirewallAttachment) throws(FirewallError) -> [Int] {
        Self.rules(try listing(["chain", "inet", Self.table, Self.checks]))
            .filter { $0.comment?.hasPrefix(attachment.nftablesHash) == true }.map(\.handle)
    }

    /// The transaction for `addMasquerade` (exposed for tests): the reference's table and
    /// chains, its postrouting rules made anew, this attachment's earlier rules (`stale`
    /// handles) replaced by one per address.
    public static func masqueradeScript(_ attachment: FirewallAttachment, addresses: [IPPrefix], staleHandles: [Int])
        -> String
    {
        var lines = [
            "add table inet \(table) { comment \"\(ReferenceNames.masqueradeTableComment)\" ; }",
            "add chain inet \(table) \(checks) { comment \"\(ReferenceNames.masqueradeChainComment)\" ; }",
            "add chain inet \(table) postrouting { type nat hook postrouting priority 100 ; }",
            "flush chain inet \(table) postrouting",
            "add rule inet \(table) postrouting ip daddr == 224.0.0.0/4 return",
            "add rule inet \(table) postrouting ip6 daddr == ff00::/8 return",
            "add rule inet \(table) postrouting goto \(checks)",
        ]
        for handle in staleHandles { lines.append("delete rule inet \(table) \(checks) handle \(handle)") }
        for prefix in addresses {
            let family = prefix.family == .v4 ? "ip" : "ip6"
            lines.append(
                "add rule inet \(table) \(checks) \(family) saddr == \(prefix.address) \(family) daddr != \(prefix.subnet) masquerade comment \"\(attachment.nftablesComment)\""
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public func addMasquerade(_ attachment: FirewallAttachment, addresses: [IPPrefix]) throws(FirewallError) {
        let stale = try masqueradeHandles(attachment)
        try FirewallTool.run(
            "nft", ["-f", "-"], input: Self.masqueradeScript(attachment, addresses: addresses, staleHandles: stale),
            operation: "add masquerade rules of \(attachment.nftablesHash)")
    }

    /// The reference's rules of the attachment (found by their comment's hash) and our 0.1.0
    /// table; nothing there is fine.
    public func removeMasquerade(_ attachment: FirewallAttachment) throws(FirewallError) {
        var script = try masqueradeHandles(attachment).map {
            "delete rule inet \(Self.table) \(Self.checks) handle \($0)\n"
        }.joined()
        script += Self.deleteTableScript(family: "inet", table: Self.legacyMasqueradeTable(attachment.legacyTag))
        try FirewallTool.run(
            "nft", ["-f", "-"], input: script, operation: "delete masquerade rules of \(attachment.nftablesHash)")
    }

    /// "add table X; delete table X": adding an existing table is a no-op, so the pair
    /// removes the table whether it exists or not, in one transaction.
    static func deleteTableScript(family: String, table: String) -> String {
        "add table \(family) \(table)\ndelete table \(family) \(table)\n"
    }

    /// The spoof check's transaction (exposed for tests).
    public static func spoofCheckScript(_ attachment: FirewallAttachment, hostInterface: String, mac: MACAddress)
        -> String
    {
        let interfaceChain = attachment.spoofInterfaceChain
        let macChain = attachment.spoofMACChain
        let comment = "comment \"\(attachment.spoofComment)\""
        return """
            add table bridge nat
            add chain bridge nat PREROUTING { type filter hook prerouting priority -300 ; policy accept ; }
            add chain bridge nat \(interfaceChain)
            add chain bridge nat \(macChain)
            flush chain bridge nat \(interfaceChain)
            flush chain bridge nat \(macChain)
            add rule bridge nat PREROUTING iifname "\(hostInterface)" jump \(interfaceChain) \(comment)
            add rule bridge nat \(interfaceChain) jump \(macChain) \(comment)
            add rule bridge nat \(macChain) ether saddr \(mac) return \(comment)
            add rule bridge nat \(macChain) drop \(comment)

            """
    }

    /// Drops frames from `hostInterface` (the container's bridge port) whose source MAC is not `mac`.
    public func addSpoofCheck(_ attachment: FirewallAttachment, hostInterface: String, mac: MACAddress)
        throws(FirewallError)
    {
        try FirewallTool.run(
            "nft", ["-f", "-"], input: Self.spoofCheckScript(attachment, hostInterface: hostInterface, mac: mac),
            operation: "add spoof check \(attachment.spoofInterfaceChain)")
    }

    /// The PREROUTING rules jumping to the attachment's chains, then the chains (emptied first:
    /// nft deletes only empty chains), and our 0.1.0 table.
    public func removeSpoofCheck(_ attachment: FirewallAttachment) throws(FirewallError) {
        let entries = try listing(["table", "bridge", "nat"])
        var script = ""
        for rule in Self.rules(entries)
        where rule.chain == "PREROUTING"
            && (rule.comment == attachment.spoofComment
                || rule.expression?.serialized().contains("\"\(attachment.spoofInterfaceChain)\"") == true)
        {
            script += "delete rule bridge nat PREROUTING handle \(rule.handle)\n"
        }
        let existing = Set(entries.compactMap { $0["chain"]?["name"]?.stringValue })
        let present = [attachment.spoofInterfaceChain, attachment.spoofMACChain].filter(existing.contains)
        script += present.map { "flush chain bridge nat \($0)\n" }.joined()
        script += present.map { "delete chain bridge nat \($0)\n" }.joined()
        script += Self.deleteTableScript(family: "bridge", table: Self.legacySpoofTable(attachment.legacyTag))
        try FirewallTool.run(
            "nft", ["-f", "-"], input: script, operation: "delete spoof check \(attachment.spoofInterfaceChain)")
    }

    /// The masquerade rules of `network` (their comment starts with its hash) whose attachment
    /// is not in `valid`, as the reference's GC does; and our 0.1.0 tables of the network.
    /// Spoof-check chains carry no network, so the reference's are left to DEL.
    public func collectGarbage(network: String, valid: Set<FirewallAttachment>) throws(FirewallError) {
        let keep = Set(valid.map(\.nftablesComment))
        let networkHash = ReferenceNames.networkHash(network)
        var script = ""
        for rule in Self.rules(try listing(["chain", "inet", Self.table, Self.checks])) {
            guard let comment = rule.comment, comment.hasPrefix(networkHash + "-"), !keep.contains(comment) else {
                continue
            }
            script += "delete rule inet \(Self.table) \(Self.checks) handle \(rule.handle)\n"
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
                    script += "delete table \(family) \(name)\n"
                }
            }
        }
        if !script.isEmpty {
            try FirewallTool.run(
                "nft", ["-f", "-"], input: script, operation: "delete stale rules of network \(network)")
        }
    }
}
