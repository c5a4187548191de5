import Addressing
import Netlink
import Nftables

#if canImport(Glibc)
    import Glibc
#endif

/// The firewall plugin's nftables backend, which upstream lacks (its #462: RHEL 10 ships
/// without iptables' kernel modules): the iptables layout (`IptablesForwardFirewall`) in a
/// table of its own, `inet cni_firewall` ("CNI firewall plugin rules"), written in the process:
///
/// - `forward` (filter, hook forward, priority filter): `jump isolation_stage_1` (once an
///   ingress policy is used), `jump admin`, then per container address `ip daddr A ct state
///   established,related accept` and `ip saddr A accept`, commented with the container id;
/// - `admin`: left to the admin's overrides, as `CNI-ADMIN`;
/// - `isolation_stage_1` / `isolation_stage_2`: the ingress policies per bridge, as upstream's
///   `CNI-ISOLATION-STAGE-1/2`.
///
/// An accept ends only its own base chain: a drop policy in another table's forward chain
/// still drops. `externalChain` (`nftablesForwardChain`, e.g. `inet filter forward`) names
/// that chain; the per-address accepts are then also inserted at its head, commented
/// `cni firewall <container id>`. DEL finds every rule by its comment, so it needs no
/// previous result.
public struct NftablesForwardFirewall: ForwardFirewall {
    public struct ChainName: Sendable, Equatable {
        public var family: NftablesFamily
        public var table: String
        public var chain: String

        /// `<family> <table> <chain>`, family ip, ip6 or inet; nil when it is not that.
        public init?(_ text: String) {
            let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard words.count == 3,
                let family = [NftablesFamily.ip, .ip6, .inet].first(where: { $0.description == words[0] }),
                words[1...].allSatisfy({ !$0.isEmpty && $0.utf8.count < 256 })
            else { return nil }
            self.family = family
            table = words[1]
            chain = words[2]
        }

        func holds(_ family: IPAddress.Family) -> Bool { self.family == .inet || self.family == NftablesFamily(family) }
    }

    public static let table = "cni_firewall"
    static let tableComment = "CNI firewall plugin rules"
    static let stage1 = "isolation_stage_1"
    static let stage2 = "isolation_stage_2"

    public let externalChain: ChainName?

    public init(externalChain: ChainName? = nil) { self.externalChain = externalChain }

    public var name: String { "nftables" }

    public func unusableReason() -> String? { NftablesFirewall().unusableReason() }

    static func externalComment(_ containerID: String) -> String { "cni firewall \(containerID)" }

    /// The two rules of one address in `chain` of `table` (`family`).
    static func addressRules(
        _ address: IPAddress, _ family: NftablesFamily, _ table: String, _ chain: String, comment: String
    ) -> [NftablesRule] {
        var established = NftablesRuleBody(in: family)
        established.address(.destination, address)
        established.connectionEstablishedOrRelated()
        established.verdict(.accept)
        var outgoing = NftablesRuleBody(in: family)
        outgoing.address(.source, address)
        outgoing.verdict(.accept)
        return [established, outgoing].map { NftablesRule(family, table, chain, $0.expressions, comment: comment) }
    }

    /// The rules of the addresses in our `forward` chain.
    static func ownRules(_ addresses: [IPAddress], containerID: String) -> [NftablesRule] {
        addresses.flatMap { addressRules($0, .inet, table, "forward", comment: containerID) }
    }

    /// The rules of the addresses in the external chain (those of its families).
    func externalRules(_ addresses: [IPAddress], containerID: String) -> [NftablesRule] {
        guard let external = externalChain else { return [] }
        return addresses.filter { external.holds($0.family) }.flatMap {
            Self.addressRules(
                $0, external.family, external.table, external.chain, comment: Self.externalComment(containerID))
        }
    }

    static let adminJump = NftablesRule(.inet, table, "admin", [])

    /// The table, `admin` and `forward` (with `jump admin` at its head) where missing.
    static func skeleton(_ batch: inout NftablesBatch, _ state: NftablesTableState) {
        batch.ensure(NftablesTable(.inet, table, comment: tableComment), in: state)
        batch.ensure(NftablesChain(.inet, table, "admin", comment: "CNI firewall plugin admin overrides"), in: state)
        batch.ensure(
            NftablesChain(.inet, table, "forward", hook: .init(type: "filter", .forward, priority: 0)), in: state)
        if !state.rules(in: "forward").contains(where: { $0.targets == ["admin"] }) {
            batch.insert(NftablesRule(.inet, table, "forward", [.verdict(.jump("admin"))]))
        }
    }

    /// The external chain's state; its absence is an error naming it.
    func externalState(_ session: NftablesSession) throws(NetlinkError) -> NftablesTableState? {
        guard let external = externalChain else { return nil }
        let state = try session.state(external.family, table: external.table)
        guard state.chains.contains(external.chain) else {
            throw NetlinkError(
                operation: "nftablesForwardChain \"\(external.family) \(external.table) \(external.chain)\"",
                errno: ENOENT)
        }
        return state
    }

    public func allow(_ addresses: [IPAddress], containerID: String) throws(FirewallError) {
        try NftablesFirewall.session("allow forwarding for \(containerID)") { session throws(NetlinkError) in
            let state = try session.state(.inet, table: Self.table)
            let external = try externalState(session)
            var batch = NftablesBatch()
            Self.skeleton(&batch, state)
            batch.replace(
                state.rules(in: "forward").filter { $0.comment == containerID },
                with: Self.ownRules(addresses, containerID: containerID))
            if let external, let name = externalChain {
                batch.replace(
                    external.rules(in: name.chain).filter { $0.comment == Self.externalComment(containerID) },
                    with: externalRules(addresses, containerID: containerID), atHead: true)
            }
            try session.commit(batch)
        }
    }

    /// Every rule commented with the container, in our table and the external chain; nothing
    /// there is fine.
    public func revoke(_ addresses: [IPAddress], containerID: String) throws(FirewallError) {
        try NftablesFirewall.session("remove forwarding for \(containerID)") { session throws(NetlinkError) in
            var batch = NftablesBatch()
            for rule in try session.rules(.inet, table: Self.table, chain: "forward") where rule.comment == containerID
            {
                batch.delete(rule)
            }
            if let name = externalChain {
                for rule in try session.rules(name.family, table: name.table, chain: name.chain)
                where rule.comment == Self.externalComment(containerID) {
                    batch.delete(rule)
                }
            }
            try session.commit(batch)
        }
    }

    public func check(_ addresses: [IPAddress], containerID: String) throws(FirewallError) {
        let (own, external) = try NftablesFirewall.session("check forwarding") {
            session throws(NetlinkError) -> ([NftablesRule], [NftablesRule]) in
            let own = try session.rules(.inet, table: Self.table, chain: "forward")
            guard let name = externalChain else { return (own, []) }
            return (own, try session.rules(name.family, table: name.table, chain: name.chain))
        }
        let wanted =
            [Self.adminJump] + Self.ownRules(addresses, containerID: containerID)
            + externalRules(addresses, containerID: containerID)
        for rule in wanted {
            let present =
                rule.chain == "admin"
                ? own.contains { $0.targets == ["admin"] }
                : (rule.table == Self.table ? own : external).contains { $0.matches(rule) }
            if !present {
                throw FirewallError(
                    tool: "nf_tables", operation: "check forwarding",
                    output:
                        "a rule of \(containerID) is missing in \(rule.family) \(rule.table) \(rule.chain == "admin" ? "forward (jump admin)" : rule.chain)"
                )
            }
        }
    }

    /// The ingress policy's rules for `bridge`, as upstream's iptables ones: stage 1 sends what
    /// leaves the bridge for another interface to stage 2 (and, isolated, drops what stays on
    /// it), stage 2 drops what goes into the bridge.
    static func isolationRules(bridge: String, isolated: Bool) -> [NftablesRule] {
        let policy = "CNI firewall plugin rules (ingressPolicy: \(isolated ? "isolated" : "same-bridge"))"
        var leaving = NftablesRuleBody(in: .inet)
        leaving.interfaceName(input: true, bridge)
        leaving.interfaceName(input: false, equal: false, bridge)
        leaving.verdict(.jump(stage2))
        var rules = [NftablesRule(.inet, table, stage1, leaving.expressions, comment: policy)]
        if isolated {
            var staying = NftablesRuleBody(in: .inet)
            staying.interfaceName(input: true, bridge)
            staying.interfaceName(input: false, bridge)
            staying.verdict(.drop)
            rules.append(NftablesRule(.inet, table, stage1, staying.expressions, comment: policy))
        }
        var entering = NftablesRuleBody(in: .inet)
        entering.interfaceName(input: false, bridge)
        entering.verdict(.drop)
        rules.append(NftablesRule(.inet, table, stage2, entering.expressions, comment: policy))
        return rules
    }

    public func isolate(bridge: String, isolated: Bool, families: Set<IPAddress.Family>) throws(FirewallError) {
        try NftablesFirewall.session("isolate bridge \(bridge)") { session throws(NetlinkError) in
            let state = try session.state(.inet, table: Self.table)
            var batch = NftablesBatch()
            Self.skeleton(&batch, state)
            for chain in [Self.stage1, Self.stage2] { batch.ensure(NftablesChain(.inet, Self.table, chain), in: state) }
            for rule in Self.isolationRules(bridge: bridge, isolated: isolated)
            where !state.rules(in: rule.chain).contains(where: { $0.expressions == rule.expressions }) {
                batch.add(rule)
            }
            if !state.rules(in: "forward").contains(where: { $0.targets == [Self.stage1] }) {
                batch.insert(NftablesRule(.inet, Self.table, "forward", [.verdict(.jump(Self.stage1))]))
            }
            try session.commit(batch)
        }
    }
}
