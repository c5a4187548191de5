import Addressing

/// iptables (and ip6tables) through `iptables-restore --noflush`: a chain per attachment in
/// the nat table, `SCNI-<network>-<attachment>`, accepting its subnet and masquerading the
/// rest (multicast excluded), and a POSTROUTING rule jumping to it for each address.
public struct IptablesFirewall: FirewallBackend {
    public init() {}
    public var name: String { "iptables" }

    static func chain(_ tag: AttachmentTag) -> String { "SCNI-\(tag.network)-\(tag.attachment)" }

    public func unusableReason() -> String? {
        do {
            try FirewallTool.run("iptables", ["-t", "nat", "-S", "POSTROUTING"], operation: "list the nat table")
            return nil
        } catch {
            return error.description
        }
    }

    static func tools(_ family: IPAddress.Family) -> (list: String, restore: String) {
        family == .v4 ? ("iptables", "iptables-restore") : ("ip6tables", "ip6tables-restore")
    }

    public func addMasquerade(_ tag: AttachmentTag, addresses: [IPPrefix], comment: String) throws(FirewallError) {
        let chain = Self.chain(tag)
        for family in [IPAddress.Family.v4, .v6] {
            let mine = addresses.filter { $0.family == family }
            guard !mine.isEmpty else { continue }
            let multicast = family == .v4 ? "224.0.0.0/4" : "ff00::/8"
            var lines = ["*nat", ":\(chain) - [0:0]"]
            for prefix in mine {
                lines.append("-A \(chain) -d \(prefix.subnet) -j ACCEPT")
            }
            lines.append("-A \(chain) ! -d \(multicast) -j MASQUERADE")
            for prefix in mine {
                let width = family == .v4 ? 32 : 128
                lines.append("-A POSTROUTING -s \(prefix.address)/\(width) -m comment --comment \"\(comment)\" -j \(chain)")
            }
            lines.append("COMMIT")
            try FirewallTool.run(Self.tools(family).restore, ["--noflush", "-w"], input: lines.joined(separator: "\n") + "\n",
                                 operation: "add masquerade chain \(chain)")
        }
    }

    public func removeMasquerade(_ tag: AttachmentTag) throws(FirewallError) {
        try remove(chains: [Self.chain(tag)])
    }

    /// Deletes the POSTROUTING jumps to each chain, then the chains, in both families.
    private func remove(chains: [String]) throws(FirewallError) {
        for family in [IPAddress.Family.v4, .v6] {
            let (list, restore) = Self.tools(family)
            guard FirewallTool.find(list) != nil else { continue }
            let existing = try FirewallTool.run(list, ["-w", "-t", "nat", "-S"], operation: "list the nat table")
            var lines = ["*nat"]
            for chain in chains where existing.contains("-N \(chain)\n") {
                for rule in existing.split(separator: "\n") where rule.hasPrefix("-A POSTROUTING ") && rule.hasSuffix(" -j \(chain)") {
                    lines.append("-D" + rule.dropFirst(2))
                }
                lines.append(":\(chain) - [0:0]")
                lines.append("-X \(chain)")
            }
            guard lines.count > 1 else { continue }
            lines.append("COMMIT")
            try FirewallTool.run(restore, ["--noflush", "-w"], input: lines.joined(separator: "\n") + "\n",
                                 operation: "delete masquerade chains \(chains.joined(separator: ","))")
        }
    }

    public func collectGarbage(network: String, valid: Set<AttachmentTag>) throws(FirewallError) {
        let prefix = "SCNI-\(AttachmentTag.networkPrefix(network))-"
        let keep = Set(valid.map(\.attachment))
        var stale: Set<String> = []
        for family in [IPAddress.Family.v4, .v6] {
            let list = Self.tools(family).list
            guard FirewallTool.find(list) != nil else { continue }
            let existing = try FirewallTool.run(list, ["-w", "-t", "nat", "-S"], operation: "list the nat table")
            for line in existing.split(separator: "\n") where line.hasPrefix("-N " + prefix) {
                let chain = String(line.dropFirst(3))
                if !keep.contains(String(chain.dropFirst(prefix.count))) { stale.insert(chain) }
            }
        }
        if !stale.isEmpty { try remove(chains: stale.sorted()) }
    }
}
