import Addressing
import JSON

/// nftables through the `nft` tool: one table per attachment and purpose, so one atomic
/// `nft -f -` batch makes it and one removes it, and nothing else in the ruleset is touched.
///
/// - masquerade: `table inet scni_masq_<network>_<attachment>` with a postrouting nat chain
///   masquerading each address to destinations outside its subnet and outside multicast;
/// - spoof check: `table bridge scni_spoof_<network>_<attachment>` dropping frames that enter
///   from the container's port with a source MAC other than the container's.
public struct NftablesFirewall: FirewallBackend {
    public init() {}
    public var name: String { "nftables" }

    static func masqueradeTable(_ tag: AttachmentTag) -> String { "scni_masq_\(tag.network)_\(tag.attachment)" }
    static func spoofTable(_ tag: AttachmentTag) -> String { "scni_spoof_\(tag.network)_\(tag.attachment)" }

    /// `nft` is on this system (the bridge plugin's default backend then).
    public static var isInstalled: Bool { FirewallTool.find("nft") != nil }

    public func unusableReason() -> String? {
        do {
            try FirewallTool.run("nft", ["list", "tables"], operation: "list tables")
            return nil
        } catch {
            return error.description
        }
    }

    /// The batch for `addMasquerade` (exposed for tests): addresses are formatted by us.
    public static func masqueradeScript(_ tag: AttachmentTag, addresses: [IPPrefix], comment: String) -> String {
        let table = masqueradeTable(tag)
        var lines = [
            "add table inet \(table) { comment \"\(comment)\"; }",
            "add chain inet \(table) postrouting { type nat hook postrouting priority srcnat; policy accept; }",
        ]
        for prefix in addresses {
            let family = prefix.family == .v4 ? "ip" : "ip6"
            let multicast = prefix.family == .v4 ? "224.0.0.0/4" : "ff00::/8"
            lines.append("add rule inet \(table) postrouting \(family) saddr \(prefix.address) \(family) daddr != \(prefix.subnet) \(family) daddr != \(multicast) masquerade")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public func addMasquerade(_ tag: AttachmentTag, addresses: [IPPrefix], comment: String) throws(FirewallError) {
        try FirewallTool.run("nft", ["-f", "-"], input: Self.masqueradeScript(tag, addresses: addresses, comment: comment),
                             operation: "add masquerade table \(Self.masqueradeTable(tag))")
    }

    /// "add table X; delete table X": adding an existing table is a no-op, so the pair
    /// removes the table whether it exists or not, in one transaction.
    static func deleteScript(family: String, table: String) -> String {
        "add table \(family) \(table)\ndelete table \(family) \(table)\n"
    }

    public func removeMasquerade(_ tag: AttachmentTag) throws(FirewallError) {
        try FirewallTool.run("nft", ["-f", "-"], input: Self.deleteScript(family: "inet", table: Self.masqueradeTable(tag)),
                             operation: "delete masquerade table \(Self.masqueradeTable(tag))")
    }

    /// Drops frames from `hostInterface` (the container's bridge port) whose source MAC is not `mac`.
    public func addSpoofCheck(_ tag: AttachmentTag, hostInterface: String, mac: MACAddress, comment: String) throws(FirewallError) {
        let table = Self.spoofTable(tag)
        let script = """
        add table bridge \(table) { comment "\(comment)"; }
        add chain bridge \(table) prerouting { type filter hook prerouting priority -300; policy accept; }
        add rule bridge \(table) prerouting iifname "\(hostInterface)" ether saddr != \(mac) drop

        """
        try FirewallTool.run("nft", ["-f", "-"], input: script, operation: "add spoof check table \(table)")
    }

    public func removeSpoofCheck(_ tag: AttachmentTag) throws(FirewallError) {
        try FirewallTool.run("nft", ["-f", "-"], input: Self.deleteScript(family: "bridge", table: Self.spoofTable(tag)),
                             operation: "delete spoof check table \(Self.spoofTable(tag))")
    }

    /// Deletes this network's masquerade and spoof-check tables of attachments not in `valid`.
    public func collectGarbage(network: String, valid: Set<AttachmentTag>) throws(FirewallError) {
        let listing = try FirewallTool.run("nft", ["-j", "list", "tables"], operation: "list tables")
        let prefix = AttachmentTag.networkPrefix(network)
        let keep = Set(valid.map(\.attachment))
        var script = ""
        let tables = (try? JSONValue.parse(listing))?["nftables"]?.arrayValue ?? []
        for entry in tables {
            guard let table = entry["table"], let name = table["name"]?.stringValue, let family = table["family"]?.stringValue else { continue }
            for kind in ["scni_masq_", "scni_spoof_"] where name.hasPrefix(kind + prefix + "_") {
                let attachment = String(name.dropFirst(kind.count + prefix.count + 1))
                if !keep.contains(attachment) { script += "delete table \(family) \(name)\n" }
            }
        }
        if !script.isEmpty {
            try FirewallTool.run("nft", ["-f", "-"], input: script, operation: "delete stale tables of network \(network)")
        }
    }
}
