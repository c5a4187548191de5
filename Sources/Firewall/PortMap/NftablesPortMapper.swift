import Addressing
import Netlink
import Nftables

/// Host ports through nftables in upstream portmap's layout (v1.6 to v1.9,
/// portmap_nftables.go), one table per family, `ip cni_hostport` and `ip6 cni_hostport`
/// (comment "CNI portmap plugin"):
///
/// - `prerouting` (nat, hook prerouting, priority dstnat) and `output` (nat, hook output,
///   priority dstnat): `<conditions> fib daddr type local jump hostports_all`;
/// - `hostports_all`: `jump hostip_hostports`, `jump hostports` (hostip_hostports is kept empty,
///   for rules of older releases);
/// - `hostports`: per mapping `[ip daddr <hostIP>] <proto> dport <port> dnat to <container>:<port>`;
/// - `masquerading` (nat, hook postrouting, priority srcnat), with `snat`: `ip saddr <container>
///   ip daddr <container> masquerade` (hairpin) and, for IPv4, `ip saddr 127.0.0.1 ip daddr
///   <container> masquerade` (localhost);
///
/// every per-container rule commented with the container id, which is how DEL finds them.
/// Written through netlink in the process (`NftablesSession`), compiled as `nft` compiles the
/// same text, so `nft list` and upstream read them as their own. `conditionsV4/V6` are nft
/// words; `NftablesRuleBody.appendConditions` says which it understands. Each call is one
/// listing and one transaction per family.
public struct NftablesPortMapper: PortMapper {
    public init() {}
    public var name: String { "nftables" }

    static let table = "cni_hostport"
    static let perContainerChains = ["hostports", "hostip_hostports", "masquerading"]

    public func unusableReason() -> String? { NftablesFirewall().unusableReason() }

    /// The container's rules of a family's table, by their comment.
    static func containerRules(_ session: NftablesSession, _ family: IPAddress.Family, containerID: String)
        throws(NetlinkError) -> [NftablesRule]
    {
        try session.rules(NftablesFamily(family), table: table).filter {
            $0.comment == containerID && perContainerChains.contains($0.chain)
        }
    }

    /// The rules `forward` adds to `hostports` and `masquerading` for `container`.
    static func containerRules(_ request: PortMapRequest, container: IPPrefix) -> [NftablesRule] {
        let family = NftablesFamily(container.family)
        let address = container.address
        var rules: [NftablesRule] = []
        for mapping in request.mappings where mapping.applies(to: container.family) {
            var body = NftablesRuleBody(in: family)
            if let destination = mapping.destination { body.address(.destination, destination) }
            body.destinationPort(transport(mapping.transport), mapping.hostPort)
            body.destinationNAT(to: address, port: mapping.containerPort)
            rules.append(NftablesRule(family, table, "hostports", body.expressions, comment: request.containerID))
        }
        if request.snat {
            var sources = [address]
            if container.family == .v4, let localhost = IPAddress("127.0.0.1") { sources.append(localhost) }
            for source in sources {
                var body = NftablesRuleBody(in: family)
                body.address(.source, source)
                body.address(.destination, address)
                body.masquerade()
                rules.append(
                    NftablesRule(family, table, "masquerading", body.expressions, comment: request.containerID))
            }
        }
        return rules
    }

    static func transport(_ transport: PortMapping.TransportProtocol) -> NftablesRuleBody.Transport {
        switch transport {
        case .tcp: .tcp
        case .udp: .udp
        case .sctp: .sctp
        }
    }

    /// The entry rules' expressions, `<conditions> fib daddr type local jump hostports_all`;
    /// conditions this compiler does not understand are an error naming them.
    static func entryExpressions(_ request: PortMapRequest, _ family: IPAddress.Family) throws(FirewallError)
        -> [NftablesExpression]
    {
        var body = NftablesRuleBody(in: NftablesFamily(family))
        do {
            try body.appendConditions(request.conditions(family), family: family)
        } catch {
            throw FirewallError(
                tool: "nf_tables", operation: "compile conditionsV\(family == .v4 ? 4 : 6)",
                output: error.description)
        }
        body.destinationIsLocal()
        body.verdict(.jump("hostports_all"))
        return body.expressions
    }

    /// The whole ADD transaction for one family, against the table as it is (`state`): the
    /// table's skeleton as upstream makes it (each table, chain and entry rule only if missing
    /// or not so), and the container's rules, replacing its earlier ones unless they are
    /// exactly these. Another container's ADD only adds its rules.
    static func forwardBatch(
        _ request: PortMapRequest, container: IPPrefix, entry: [NftablesExpression], state: NftablesTableState
    ) -> NftablesBatch {
        let family = NftablesFamily(container.family)
        var batch = NftablesBatch()
        batch.ensure(NftablesTable(family, table, comment: "CNI portmap plugin"), in: state)
        for chain in ["hostports", "hostip_hostports", "hostports_all"] {
            batch.ensure(NftablesChain(family, table, chain), in: state)
        }
        batch.ensure(
            rules: ["hostip_hostports", "hostports"].map {
                NftablesRule(family, table, "hostports_all", [.verdict(.jump($0))])
            }, chain: "hostports_all", in: state)
        for (chain, point) in [("prerouting", NftablesChain.HookPoint.prerouting), ("output", .output)] {
            batch.ensure(
                NftablesChain(family, table, chain, hook: .init(type: "nat", point, priority: -100)), in: state)
            batch.ensure(rules: [NftablesRule(family, table, chain, entry)], chain: chain, in: state)
        }
        if request.snat {
            batch.ensure(
                NftablesChain(family, table, "masquerading", hook: .init(type: "nat", .postrouting, priority: 100)),
                in: state)
        }
        let present = state.rules.filter {
            $0.comment == request.containerID && perContainerChains.contains($0.chain)
        }
        batch.replace(present, with: containerRules(request, container: container))
        return batch
    }

    public func forward(_ request: PortMapRequest, to container: IPPrefix) throws(FirewallError) {
        let entry = try Self.entryExpressions(request, container.family)
        try NftablesFirewall.session("forward host ports to \(container.address)") { session throws(NetlinkError) in
            let state = try session.state(NftablesFamily(container.family), table: Self.table)
            try session.commit(Self.forwardBatch(request, container: container, entry: entry, state: state))
        }
    }

    public func check(_ request: PortMapRequest, for container: IPPrefix) throws(FirewallError) {
        let present = try NftablesFirewall.session("check host ports of \(container.address)") {
            session throws(NetlinkError) in
            try Self.containerRules(session, container.family, containerID: request.containerID)
        }
        for (chain, expected) in [
            ("hostports", request.mappings.filter { $0.applies(to: container.family) }.count),
            ("masquerading", request.snat ? (container.family == .v4 ? 2 : 1) : 0),
        ] where expected > 0 {
            let found = present.filter { $0.chain == chain }.count
            if found < expected {
                throw FirewallError(
                    tool: "nf_tables", operation: "check host ports of \(container.address)",
                    output: "\(expected - found) of \(expected) rules of \(request.containerID) missing in "
                        + "\(NftablesFamily(container.family)) \(Self.table) \(chain)")
            }
        }
    }

    public func remove(network: String, containerID: String) throws(FirewallError) {
        try NftablesFirewall.session("remove the host ports of \(containerID)") { session throws(NetlinkError) in
            let tables = try session.tables()
            var batch = NftablesBatch()
            for family in [IPAddress.Family.v4, .v6]
            where tables.contains(NftablesTable(NftablesFamily(family), Self.table)) {
                for rule in try Self.containerRules(session, family, containerID: containerID) { batch.delete(rule) }
            }
            try session.commit(batch)
        }
    }

    /// Nothing: upstream's nftables rules carry only the container id, not the network, so the
    /// rules of one network's stale attachments cannot be told from another network's.
    public func collectGarbage(network: String, validContainers: Set<String>) throws(FirewallError) {}
}
