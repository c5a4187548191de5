import Addressing

/// The firewall plugin's iptables rules in upstream's layout (plugins/meta/firewall, v1.1 to
/// v1.9), in the filter table of each family: FORWARD jumps first to `CNI-FORWARD` ("CNI
/// firewall plugin rules"), which jumps first to the admin chain (`CNI-ADMIN` or
/// `iptablesAdminChainName`, "CNI firewall plugin admin overrides"), then holds per container
/// address `-d A -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT` and `-s A -j ACCEPT`;
/// and the ingress policies' `CNI-ISOLATION-STAGE-1/2` chains per bridge. Written in `iptables
/// -S`'s spelling (what CHECK compares), one `iptables-restore --noflush` per family and call.
public struct IptablesForwardFirewall: ForwardFirewall {
    public static let forwardChain = "CNI-FORWARD"
    static let stage1 = "CNI-ISOLATION-STAGE-1"
    static let stage2 = "CNI-ISOLATION-STAGE-2"
    static let sharedComment = "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)"

    public let adminChain: String

    public init(adminChain: String = "CNI-ADMIN") { self.adminChain = adminChain }

    public var name: String { "iptables" }

    public func unusableReason() -> String? { IptablesFirewall().unusableReason() }

    var forwardJump: String { "-A FORWARD -m comment --comment \"CNI firewall plugin rules\" -j \(Self.forwardChain)" }
    var adminJump: String {
        "-A \(Self.forwardChain) -m comment --comment \"CNI firewall plugin admin overrides\" -j \(adminChain)"
    }

    /// The two rules of one container address.
    func addressRules(_ address: IPAddress) -> [String] {
        let host = "\(address)/\(address.family.bitWidth)"
        return [
            "-A \(Self.forwardChain) -d \(host) -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "-A \(Self.forwardChain) -s \(host) -j ACCEPT",
        ]
    }

    /// `-A CHAIN rest` as `-I CHAIN 1 rest`.
    static func first(_ rule: String, chain: String) -> String {
        "-I \(chain) 1" + rule.dropFirst(3 + chain.utf8.count)
    }

    static func listing(_ family: IPAddress.Family, _ operation: String) throws(FirewallError) -> [Substring] {
        guard let listing = try IptablesTable.list(family, table: "filter") else {
            throw FirewallError(
                tool: IptablesTable.tools(family).list, operation: operation,
                output:
                    "\(IptablesTable.tools(family).list) not found in \(FirewallTool.searchPath.joined(separator: ":"))"
            )
        }
        return listing
    }

    /// Lets the addresses' traffic be forwarded (ADD): the chains and jumps made when missing,
    /// each address's rules appended when missing (found by the rules, as upstream's: the
    /// container id is not in them).
    public func allow(_ addresses: [IPAddress], containerID: String) throws(FirewallError) {
        for family in [IPAddress.Family.v4, .v6] {
            let mine = addresses.filter { $0.family == family }
            guard !mine.isEmpty else { continue }
            let listing = Set(try Self.listing(family, "allow forwarding"))
            var lines: [String] = []
            for chain in [Self.forwardChain, adminChain] where !listing.contains(Substring("-N \(chain)")) {
                lines.append(":\(chain) - [0:0]")
            }
            if !listing.contains(Substring(forwardJump)) { lines.append(Self.first(forwardJump, chain: "FORWARD")) }
            if !listing.contains(Substring(adminJump)) { lines.append(Self.first(adminJump, chain: Self.forwardChain)) }
            var added = Set<String>()
            for rule in mine.flatMap(addressRules)
            where !listing.contains(Substring(rule)) && added.insert(rule).inserted {
                lines.append(rule)
            }
            try IptablesTable.apply(family, lines, table: "filter", operation: "allow forwarding for \(mine)")
        }
    }

    /// Removes the addresses' rules (DEL); the shared chains stay, as upstream's. A family whose
    /// tool or table is missing has nothing to remove.
    public func revoke(_ addresses: [IPAddress], containerID: String) throws(FirewallError) {
        for family in [IPAddress.Family.v4, .v6] {
            let mine = addresses.filter { $0.family == family }
            guard !mine.isEmpty, let listing = try? IptablesTable.list(family, table: "filter") else { continue }
            let present = Set(listing)
            let lines = mine.flatMap(addressRules).filter { present.contains(Substring($0)) }.map {
                "-D" + $0.dropFirst(2)
            }
            try IptablesTable.apply(family, lines, table: "filter", operation: "remove forwarding for \(mine)")
        }
    }

    /// Throws naming the first rule of the addresses (or a shared jump) that is missing.
    public func check(_ addresses: [IPAddress], containerID: String) throws(FirewallError) {
        for family in [IPAddress.Family.v4, .v6] {
            let mine = addresses.filter { $0.family == family }
            guard !mine.isEmpty else { continue }
            let listing = Set(try Self.listing(family, "check forwarding"))
            for rule in [forwardJump, adminJump] + mine.flatMap(addressRules) where !listing.contains(Substring(rule)) {
                throw FirewallError(
                    tool: IptablesTable.tools(family).list, operation: "check forwarding",
                    output: "rule \"\(rule)\" not found")
            }
        }
    }

    /// The rules of an ingress policy for `bridge` (upstream's setupIsolationChains).
    func isolationRules(bridge: String, isolated: Bool) -> (first: [(String, String)], last: [(String, String)]) {
        let policy = "CNI firewall plugin rules (ingressPolicy: \(isolated ? "isolated" : "same-bridge"))"
        var first: [(String, String)] = [
            ("FORWARD", "-A FORWARD -m comment --comment \"\(Self.sharedComment)\" -j \(Self.stage1)"),
            (
                Self.stage1,
                "-A \(Self.stage1) -i \(bridge) ! -o \(bridge) -m comment --comment \"\(policy)\" -j \(Self.stage2)"
            ),
        ]
        if isolated {
            first.append(
                (Self.stage1, "-A \(Self.stage1) -i \(bridge) -o \(bridge) -m comment --comment \"\(policy)\" -j DROP"))
        }
        first.append(
            (Self.stage2, "-A \(Self.stage2) -o \(bridge) -m comment --comment \"\(Self.sharedComment)\" -j DROP"))
        let last = [Self.stage1, Self.stage2].map {
            ($0, "-A \($0) -m comment --comment \"\(Self.sharedComment)\" -j RETURN")
        }
        return (first, last)
    }

    /// Separates `bridge`'s containers from other bridges (same-bridge) and from each other
    /// too (isolated), in each family of `families`; what exists is left as it is.
    public func isolate(bridge: String, isolated: Bool, families: Set<IPAddress.Family>) throws(FirewallError) {
        let (first, last) = isolationRules(bridge: bridge, isolated: isolated)
        for family in [IPAddress.Family.v4, .v6] where families.contains(family) {
            let listing = Set(try Self.listing(family, "isolate \(bridge)"))
            var lines: [String] = []
            for chain in [Self.stage1, Self.stage2] where !listing.contains(Substring("-N \(chain)")) {
                lines.append(":\(chain) - [0:0]")
            }
            for (chain, rule) in first where !listing.contains(Substring(rule)) {
                lines.append(Self.first(rule, chain: chain))
            }
            for (_, rule) in last where !listing.contains(Substring(rule)) { lines.append(rule) }
            try IptablesTable.apply(family, lines, table: "filter", operation: "isolate bridge \(bridge)")
        }
    }
}
