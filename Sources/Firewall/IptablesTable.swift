import Addressing

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
