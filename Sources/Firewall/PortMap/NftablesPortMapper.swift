import Addressing

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
/// Written as nft's text, as upstream's knftables writes it (`conditionsV4/V6` are nft text by
/// definition); every name in it is a CNI identifier (letters, digits, `_.-`) or a constant.
/// Each call is one listing and one `nft -f -` transaction per family.
public struct NftablesPortMapper: PortMapper {
    public init() {}
    public var name: String { "nftables" }

    static let table = "cni_hostport"
    static let perContainerChains = ["hostports", "hostip_hostports", "masquerading"]

    static func family(_ family: IPAddress.Family) -> String { family == .v4 ? "ip" : "ip6" }

    public func unusableReason() -> String? { NftablesFirewall().unusableReason() }

    /// The container's rules of a family's table (handles and chains), by their comment.
    func containerRules(_ family: IPAddress.Family, containerID: String) throws(FirewallError)
        -> [NftablesFirewall.ListedRule]
    {
        let entries = try NftablesFirewall().listing(["table", Self.family(family), Self.table])
        return NftablesFirewall.rules(entries).filter {
            $0.comment == containerID && Self.perContainerChains.contains($0.chain)
        }
    }

    /// The rules `forward` adds to `hostports` and `masquerading` for `container`, in nft text
    /// after `add rule <family> cni_hostport `.
    static func containerRules(_ request: PortMapRequest, container: IPPrefix) -> [String] {
        let ipX = family(container.family)
        let address = container.address
        let comment = " comment \"\(request.containerID)\""
        var rules: [String] = []
        for mapping in request.mappings where mapping.applies(to: container.family) {
            let destination = mapping.destination.map { "\(ipX) daddr \($0) " } ?? ""
            let target = container.family == .v4 ? "\(address)" : "[\(address)]"
            rules.append(
                "hostports \(destination)\(mapping.transport.rawValue) dport \(mapping.hostPort) "
                    + "dnat to \(target):\(mapping.containerPort)\(comment)")
        }
        if request.snat {
            rules.append("masquerading \(ipX) saddr \(address) \(ipX) daddr \(address) masquerade\(comment)")
            if container.family == .v4 {
                rules.append("masquerading \(ipX) saddr 127.0.0.1 \(ipX) daddr \(address) masquerade\(comment)")
            }
        }
        return rules
    }

    /// The whole ADD transaction for one family: the table's skeleton as upstream makes it,
    /// the container's earlier rules (`stale` handles) deleted, its rules added.
    static func forwardScript(_ request: PortMapRequest, container: IPPrefix, stale: [NftablesFirewall.ListedRule])
        -> String
    {
        let prefix = "\(family(container.family)) \(table)"
        let conditions = request.conditions(container.family).joined(separator: " ")
        let entry = (conditions.isEmpty ? "" : conditions + " ") + "fib daddr type local jump hostports_all"
        var lines = [
            "add table \(prefix) { comment \"CNI portmap plugin\" ; }",
            "add chain \(prefix) hostports",
            "add chain \(prefix) hostip_hostports",
            "add chain \(prefix) hostports_all",
            "flush chain \(prefix) hostports_all",
            "add rule \(prefix) hostports_all jump hostip_hostports",
            "add rule \(prefix) hostports_all jump hostports",
            "add chain \(prefix) prerouting { type nat hook prerouting priority -100 ; }",
            "flush chain \(prefix) prerouting",
            "add rule \(prefix) prerouting \(entry)",
            "add chain \(prefix) output { type nat hook output priority -100 ; }",
            "flush chain \(prefix) output",
            "add rule \(prefix) output \(entry)",
        ]
        if request.snat {
            lines.append("add chain \(prefix) masquerading { type nat hook postrouting priority 100 ; }")
        }
        for rule in stale { lines.append("delete rule \(prefix) \(rule.chain) handle \(rule.handle)") }
        for rule in containerRules(request, container: container) { lines.append("add rule \(prefix) \(rule)") }
        return lines.joined(separator: "\n") + "\n"
    }

    public func forward(_ request: PortMapRequest, to container: IPPrefix) throws(FirewallError) {
        let stale = try containerRules(container.family, containerID: request.containerID)
        try FirewallTool.run(
            "nft", ["-f", "-"], input: Self.forwardScript(request, container: container, stale: stale),
            operation: "forward host ports to \(container.address)")
    }

    public func check(_ request: PortMapRequest, for container: IPPrefix) throws(FirewallError) {
        let present = try containerRules(container.family, containerID: request.containerID)
        for (chain, expected) in [
            ("hostports", request.mappings.filter { $0.applies(to: container.family) }.count),
            ("masquerading", request.snat ? (container.family == .v4 ? 2 : 1) : 0),
        ] where expected > 0 {
            let found = present.filter { $0.chain == chain }.count
            if found < expected {
                throw FirewallError(
                    tool: "nft", operation: "check host ports of \(container.address)",
                    output: "\(expected - found) of \(expected) rules of \(request.containerID) missing in "
                        + "\(Self.family(container.family)) \(Self.table) \(chain)")
            }
        }
    }

    /// The families whose `cni_hostport` table exists: one `nft -j list tables`.
    func familiesWithTable() throws(FirewallError) -> [IPAddress.Family] {
        let tables = try NftablesFirewall().listing(["tables"]).compactMap { $0["table"] }
        return [IPAddress.Family.v4, .v6].filter { family in
            tables.contains {
                $0["name"]?.stringValue == Self.table && $0["family"]?.stringValue == Self.family(family)
            }
        }
    }

    public func remove(network: String, containerID: String) throws(FirewallError) {
        for family in try familiesWithTable() {
            let rules = try containerRules(family, containerID: containerID)
            guard !rules.isEmpty else { continue }
            let prefix = "\(Self.family(family)) \(Self.table)"
            let script = rules.map { "delete rule \(prefix) \($0.chain) handle \($0.handle)" }.joined(separator: "\n")
            try FirewallTool.run(
                "nft", ["-f", "-"], input: script + "\n", operation: "remove the host ports of \(containerID)")
        }
    }

    /// Nothing: upstream's nftables rules carry only the container id, not the network, so the
    /// rules of one network's stale attachments cannot be told from another network's.
    public func collectGarbage(network: String, validContainers: Set<String>) throws(FirewallError) {}
}
