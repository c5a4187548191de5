import Addressing
import Nftables

#if canImport(Glibc)
    import Glibc
#endif

/// A table of one family (nat by default, filter for the firewall plugin) through iptables'
/// own tools: listed with `iptables -S` (`ip6tables -S`), changed with one `iptables-restore
/// --noflush` (`ip6tables-restore`) per call, which the kernel applies as one transaction.
/// Shared by the masquerade, portmap and the firewall plugin.
enum IptablesTable {
    static func tools(_ family: IPAddress.Family) -> (list: String, restore: String) {
        family == .v4 ? ("iptables", "iptables-restore") : ("ip6tables", "ip6tables-restore")
    }

    /// The table's chains and rules in `-S` form; nil when the family's tool is not installed.
    static func list(_ family: IPAddress.Family, table: String = "nat") throws(FirewallError) -> [Substring]? {
        let list = tools(family).list
        guard FirewallTool.find(list) != nil else { return nil }
        return try FirewallTool.run(list, ["-w", "-t", table, "-S"], operation: "list the \(table) table").split(
            separator: "\n")
    }

    /// The family's tool is iptables-nft (its binary resolves to `xtables-nft-multi`, Debian's
    /// default since 10): its tables are nf_tables tables (`ip nat`, `ip6 filter`...), which
    /// this process can list without exec'ing it. False for iptables-legacy or no iptables.
    static func isNftBased(_ family: IPAddress.Family) -> Bool {
        guard let path = FirewallTool.find(tools(family).list), let resolved = realpath(path, nil) else { return false }
        defer { free(resolved) }
        return String(cString: resolved).hasSuffix("/xtables-nft-multi")
    }

    /// Whether any of `chains` exists in the family's `table`, asked of nf_tables when the tool
    /// is iptables-nft (no exec); nil when that cannot be known without the tool (legacy).
    static func hasAnyChain(_ chains: [String], _ family: IPAddress.Family, table: String = "nat") -> Bool? {
        guard isNftBased(family),
            let present = try? NftablesSession.shared().chains(NftablesFamily(family), table: table)
        else { return nil }
        return chains.contains(where: present.contains)
    }

    /// Applies `lines` (rules in `-S` form, `-D` deletions, `:CHAIN - [0:0]` declarations,
    /// which create a chain or flush an existing one, `-X` removals) in one transaction; no
    /// lines, no exec.
    static func apply(_ family: IPAddress.Family, _ lines: [String], table: String = "nat", operation: String)
        throws(FirewallError)
    {
        guard !lines.isEmpty else { return }
        let input = (["*" + table] + lines + ["COMMIT"]).joined(separator: "\n") + "\n"
        try FirewallTool.run(tools(family).restore, ["--noflush", "-w"], input: input, operation: operation)
    }

    /// The lines that delete every rule jumping to `chain` and then `chain` itself, when the
    /// listing has it.
    static func removal(of chain: String, in listing: [Substring]) -> [String] {
        guard listing.contains(Substring("-N \(chain)")) else { return [] }
        var lines: [String] = []
        for rule in listing where rule.hasPrefix("-A ") && rule.hasSuffix(" -j \(chain)") {
            lines.append("-D" + rule.dropFirst(2))
        }
        return lines + [":\(chain) - [0:0]", "-X \(chain)"]
    }

    /// A comment as `iptables -S` prints it and `iptables-restore` reads it: double-quoted,
    /// with `\` and `"` escaped.
    static func quoted(_ comment: String) -> String {
        "\"" + comment.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }
}
