import Addressing

/// iptables (and ip6tables) masquerade in the reference plugins' own format
/// (pkg/ip/ipmasq_iptables_linux.go), so either implementation removes what the other made:
/// a nat chain `CNI-<sha512 of network+container>` per container and network holding
/// `-d <subnet> -j ACCEPT` and `! -d <multicast> -j MASQUERADE`, and a POSTROUTING rule
/// `-s <address> -j <chain>` per address, every rule commented `name: "<net>" id: "<id>"`.
/// Rules are added once (what already exists is not added again) through
/// `iptables-restore --noflush`, one transaction per family.
public struct IptablesFirewall: FirewallBackend {
    public init() {}
    public var name: String { "iptables" }

    public func unusableReason() -> String? {
        do {
            try FirewallTool.run("iptables", ["-w", "-t", "nat", "-S", "POSTROUTING"], operation: "list the nat table")
            return nil
        } catch {
            return error.description
        }
    }

    static func quotedComment(_ comment: String) -> String { IptablesTable.quoted(comment) }

    /// The rules the reference adds for one address, in `iptables -S` form.
    static func rules(_ attachment: FirewallAttachment, _ prefix: IPPrefix) -> [String] {
        let chain = attachment.iptablesChain
        let comment = "-m comment --comment " + quotedComment(attachment.iptablesComment)
        let multicast = prefix.family == .v4 ? "224.0.0.0/4" : "ff00::/8"
        let width = prefix.family == .v4 ? 32 : 128
        return [
            "-A \(chain) -d \(prefix.subnet) \(comment) -j ACCEPT",
            "-A \(chain) ! -d \(multicast) \(comment) -j MASQUERADE",
            "-A POSTROUTING -s \(prefix.address)/\(width) \(comment) -j \(chain)",
        ]
    }

    public func addMasquerade(_ attachment: FirewallAttachment, addresses: [IPPrefix]) throws(FirewallError) {
        let chain = attachment.iptablesChain
        for family in [IPAddress.Family.v4, .v6] {
            let mine = addresses.filter { $0.family == family }
            guard !mine.isEmpty else { continue }
            var existing = Set((try IptablesTable.list(family) ?? []).map(String.init))
            var lines: [String] = []
            if !existing.contains("-N \(chain)") { lines.append(":\(chain) - [0:0]") }
            for prefix in mine {
                for rule in Self.rules(attachment, prefix) where !existing.contains(rule) {
                    lines.append(rule)
                    existing.insert(rule)
                }
            }
            try IptablesTable.apply(family, lines, operation: "add masquerade chain \(chain)")
        }
    }

    /// The reference's chain of the attachment and our 0.1.0 one: every POSTROUTING jump to
    /// them (whatever address: none is needed, so this works with the netns gone), then the
    /// chains. Shared by every interface of the container on this network, as the reference's.
    public func removeMasquerade(_ attachment: FirewallAttachment) throws(FirewallError) {
        try remove(chains: [attachment.iptablesChain, IptablesFirewall.legacyChain(attachment.legacyTag)])
    }

    /// Our 0.1.0 release's chain name.
    static func legacyChain(_ tag: AttachmentTag) -> String { "SCNI-\(tag.network)-\(tag.attachment)" }

    /// A family where iptables-nft shows none of the chains in nf_tables is skipped without
    /// exec'ing it (a DEL of an nftables attachment looks here too, as upstream's does).
    private func remove(chains: [String]) throws(FirewallError) {
        for family in [IPAddress.Family.v4, .v6] where IptablesTable.hasAnyChain(chains, family) != false {
            guard let existing = try IptablesTable.list(family) else { continue }
            try IptablesTable.apply(
                family, chains.flatMap { IptablesTable.removal(of: $0, in: existing) },
                operation: "delete masquerade chains \(chains.joined(separator: ","))")
        }
    }

    /// The chains of `network` (recognised by their rules' comment, `name: "<network>" id: …`)
    /// of containers without a valid attachment, and our 0.1.0 chains of the network likewise.
    public func collectGarbage(network: String, valid: Set<FirewallAttachment>) throws(FirewallError) {
        let networkComment =
            "--comment "
            + Self.quotedComment(ReferenceNames.iptablesComment(network: network, containerID: ""))
            .dropLast(3)  // up to `id: `, without the empty id's quotes and the closing quote
        let keepComments = Set(valid.map { "--comment " + Self.quotedComment($0.iptablesComment) })
        let legacyPrefix = "SCNI-\(AttachmentTag.networkPrefix(network))-"
        let keepLegacy = Set(valid.map { Self.legacyChain($0.legacyTag) })
        var stale: Set<String> = []
        for family in [IPAddress.Family.v4, .v6] {
            for line in try IptablesTable.list(family) ?? [] {
                if line.hasPrefix("-N " + legacyPrefix) {
                    let chain = String(line.dropFirst(3))
                    if !keepLegacy.contains(chain) { stale.insert(chain) }
                }
                guard line.hasPrefix("-A CNI-"), line.contains(networkComment),
                    let chain = line.dropFirst(3).split(separator: " ").first
                else { continue }
                if !keepComments.contains(where: { line.contains($0) }) { stale.insert(String(chain)) }
            }
        }
        if !stale.isEmpty { try remove(chains: stale.sorted()) }
    }
}
