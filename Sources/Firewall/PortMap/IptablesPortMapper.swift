import Addressing

/// Host ports through iptables in upstream portmap's layout (plugins/meta/portmap,
/// v1.1 to v1.9), in the nat table of each family:
///
/// - `PREROUTING` and `OUTPUT`: `-m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT`;
/// - `CNI-HOSTPORT-DNAT`: per attachment and protocol, `-m comment --comment "dnat name: "<net>"
///   id: "<id>"" -m multiport --dports P1,P2,… -j CNI-DN-<hash>` (at most 15 ports a rule), with
///   `conditionsV4`/`conditionsV6` appended;
/// - `CNI-DN-<sha512(net+id)>`: per mapping, with `snat`, `-s <container subnet> … -j
///   CNI-HOSTPORT-SETMARK` (hairpin) and, for IPv4, `-s 127.0.0.1/32 … -j CNI-HOSTPORT-SETMARK`
///   (localhost), then `-j DNAT --to-destination <container>:<port>`;
/// - `CNI-HOSTPORT-SETMARK`: `-j MARK --set-xmark <bit>/<bit>`; `CNI-HOSTPORT-MASQ` (first in
///   `POSTROUTING`): `-m mark --mark <bit>/<bit> -j MASQUERADE`.
///
/// Unlike upstream (about six `iptables` execs per port, each reading the whole table), every
/// call is one listing and one `iptables-restore --noflush` per family: one transaction.
public struct IptablesPortMapper: PortMapper {
    public init() {}
    public var name: String { "iptables" }

    static let dnatChain = "CNI-HOSTPORT-DNAT"
    static let setMarkChain = "CNI-HOSTPORT-SETMARK"
    static let masqueradeChain = "CNI-HOSTPORT-MASQ"

    /// The attachment's chain: `CNI-DN-` and 21 hex digits of SHA-512(network + container id).
    static func attachmentChain(network: String, containerID: String) -> String {
        ReferenceNames.chain(network + containerID, prefix: "DN-")
    }

    /// The chain of portmap releases before 0.6 (`CNI-SN-…` under `CNI-HOSTPORT-SNAT`),
    /// still removed by DEL as upstream does.
    static func oldSNATChain(network: String, containerID: String) -> String {
        ReferenceNames.chain(network + containerID, prefix: "SN-")
    }

    /// `dnat name: "<net>" id: "<id>"` (the names as they are: upstream formats them with %s),
    /// at most 255 bytes (253 and "...", as upstream's trimComment).
    static func comment(network: String, containerID: String) -> String {
        let text = "dnat name: \"\(network)\" id: \"\(containerID)\""
        guard text.utf8.count > 255 else { return text }
        return String(decoding: text.utf8.prefix(253), as: UTF8.self) + "..."
    }

    /// The masquerade's probe: the nat table can be listed.
    public func unusableReason() -> String? { IptablesFirewall().unusableReason() }

    // MARK: The rules, in `iptables -S` form

    /// The shared chains' rules this request needs: (chain, rule, whether it goes first).
    static func sharedRules(_ request: PortMapRequest) -> [(chain: String, rule: String, first: Bool)] {
        var rules: [(String, String, Bool)] = []
        if request.snat && request.externalSetMarkChain == nil {
            let mark = request.markDefinition
            rules += [
                (
                    setMarkChain,
                    "-A \(setMarkChain) -m comment --comment \"CNI portfwd masquerade mark\" -j MARK --set-xmark \(mark)",
                    false
                ),
                (masqueradeChain, "-A \(masqueradeChain) -m mark --mark \(mark) -j MASQUERADE", false),
                (
                    "POSTROUTING",
                    "-A POSTROUTING -m comment --comment \"CNI portfwd requiring masquerade\" -j \(masqueradeChain)",
                    true
                ),
            ]
        }
        for hook in ["PREROUTING", "OUTPUT"] {
            rules.append((hook, "-A \(hook) -m addrtype --dst-type LOCAL -j \(dnatChain)", false))
        }
        return rules
    }

    /// The jumps from `CNI-HOSTPORT-DNAT` to the attachment's chain, as upstream writes them
    /// (every mapping's port, whatever its hostIP's family, grouped by protocol in name order).
    static func entryRules(_ request: PortMapRequest, family: IPAddress.Family) -> [String] {
        let chain = attachmentChain(network: request.network, containerID: request.containerID)
        let comment = IptablesTable.quoted(comment(network: request.network, containerID: request.containerID))
        let conditions = request.conditions(family).map(Self.argument).joined(separator: " ")
        var rules: [String] = []
        for transport in PortMapping.TransportProtocol.allCases.sorted(by: { $0.rawValue < $1.rawValue }) {
            let ports = request.mappings.filter { $0.transport == transport }.map { String($0.hostPort) }
            for start in stride(from: 0, to: ports.count, by: 15) {
                let group = ports[start..<min(start + 15, ports.count)].joined(separator: ",")
                rules.append(
                    "-A \(dnatChain) -m comment --comment \(comment) -m multiport -p \(transport.rawValue) "
                        + "--destination-ports \(group)" + (conditions.isEmpty ? "" : " " + conditions)
                        + " -j \(chain)")
            }
        }
        return rules
    }

    /// The attachment chain's rules for `container`, exactly as `iptables -S` prints them.
    static func chainRules(_ request: PortMapRequest, container: IPPrefix) -> [String] {
        let chain = attachmentChain(network: request.network, containerID: request.containerID)
        let family = container.family
        let width = family.bitWidth
        let setMark = request.externalSetMarkChain ?? setMarkChain
        var rules: [String] = []
        for mapping in request.mappings where mapping.applies(to: family) {
            let destination = mapping.destination.map { " -d \($0)/\(width)" } ?? ""
            let match = " -p \(mapping.transport.rawValue) -m \(mapping.transport.rawValue) --dport \(mapping.hostPort)"
            if request.snat {
                // `-s 0.0.0.0/0` (masqAll) is no match at all, and iptables prints none.
                let hairpin = request.masqueradeAll ? "" : " -s \(container.subnet)"
                rules.append("-A \(chain)\(hairpin)\(destination)\(match) -j \(setMark)")
                if family == .v4 && !request.masqueradeAll {
                    rules.append("-A \(chain) -s 127.0.0.1/32\(destination)\(match) -j \(setMark)")
                }
            }
            let target = family == .v4 ? "\(container.address)" : "[\(container.address)]"
            rules.append(
                "-A \(chain)\(destination)\(match) -j DNAT --to-destination \(target):\(mapping.containerPort)")
        }
        return rules
    }

    /// One argument of a condition as iptables-restore reads it: quoted when it holds a space
    /// or a quote (the config's parser refuses line breaks).
    static func argument(_ text: String) -> String {
        text.contains(where: { $0 == " " || $0 == "\t" || $0 == "\"" || $0 == "'" }) || text.isEmpty
            ? IptablesTable.quoted(text) : text
    }

    // MARK: The verbs

    public func forward(_ request: PortMapRequest, to container: IPPrefix) throws(FirewallError) {
        let family = container.family
        guard let listing = try IptablesTable.list(family) else {
            throw FirewallError(
                tool: IptablesTable.tools(family).list, operation: "forward host ports",
                output:
                    "\(IptablesTable.tools(family).list) not found in \(FirewallTool.searchPath.joined(separator: ":"))"
            )
        }
        let existing = Set(listing)
        let chain = Self.attachmentChain(network: request.network, containerID: request.containerID)
        var lines: [String] = []
        var declared: Set<String> = []
        func declare(_ name: String) {
            guard !existing.contains(Substring("-N \(name)")), declared.insert(name).inserted else { return }
            lines.append(":\(name) - [0:0]")
        }
        // The shared chains and their rules, each once.
        for (owner, rule, first) in Self.sharedRules(request) where !existing.contains(Substring(rule)) {
            if owner.hasPrefix("CNI-") { declare(owner) }
            if rule.hasSuffix("-j \(Self.dnatChain)") { declare(Self.dnatChain) }
            if rule.hasSuffix("-j \(Self.masqueradeChain)") { declare(Self.masqueradeChain) }
            lines.append(first ? "-I \(owner) 1" + rule.dropFirst(3 + owner.utf8.count) : rule)
        }
        declare(Self.dnatChain)
        // The attachment's own: earlier jumps to its chain go, the chain is made or flushed,
        // then filled anew.
        for rule in listing where rule.hasPrefix("-A ") && rule.hasSuffix(" -j \(chain)") {
            lines.append("-D" + rule.dropFirst(2))
        }
        lines.append(":\(chain) - [0:0]")
        lines += Self.entryRules(request, family: family)
        lines += Self.chainRules(request, container: container)
        try IptablesTable.apply(family, lines, operation: "forward host ports to \(container.address) (chain \(chain))")
    }

    public func check(_ request: PortMapRequest, for container: IPPrefix) throws(FirewallError) {
        let family = container.family
        let chain = Self.attachmentChain(network: request.network, containerID: request.containerID)
        let listing = Set(try IptablesTable.list(family) ?? [])
        func missing(_ what: String) -> FirewallError {
            FirewallError(
                tool: IptablesTable.tools(family).list, operation: "check host ports of \(container.address)",
                output: what)
        }
        guard listing.contains(Substring("-N \(chain)")) else {
            throw missing("chain \(chain) not found in the nat table")
        }
        for rule in Self.chainRules(request, container: container) where !listing.contains(Substring(rule)) {
            throw missing("rule \"\(rule)\" not found")
        }
        let entries = listing.filter { $0.hasPrefix("-A \(Self.dnatChain) ") && $0.hasSuffix(" -j \(chain)") }
        let expected = Self.entryRules(request, family: family).count
        if entries.count < expected {
            throw missing("\(expected - entries.count) of \(expected) jumps from \(Self.dnatChain) to \(chain) missing")
        }
        for hook in ["PREROUTING", "OUTPUT"] {
            let rule = "-A \(hook) -m addrtype --dst-type LOCAL -j \(Self.dnatChain)"
            if !listing.contains(Substring(rule)) { throw missing("rule \"\(rule)\" not found") }
        }
    }

    public func remove(network: String, containerID: String) throws(FirewallError) {
        try removeChains(
            [
                Self.attachmentChain(network: network, containerID: containerID),
                Self.oldSNATChain(network: network, containerID: containerID),
            ], operation: "remove the host ports of \(containerID)")
    }

    public func collectGarbage(network: String, validContainers: Set<String>) throws(FirewallError) {
        let networkComment =
            "--comment " + IptablesTable.quoted(Self.comment(network: network, containerID: "")).dropLast(3)
        let keep = Set(validContainers.map { Self.attachmentChain(network: network, containerID: $0) })
        var stale: Set<String> = []
        for family in [IPAddress.Family.v4, .v6] {
            for line in (try? IptablesTable.list(family)) ?? [] {
                guard line.hasPrefix("-A \(Self.dnatChain) "), line.contains(networkComment),
                    let target = line.split(separator: " ").last, target.hasPrefix("CNI-DN-")
                else { continue }
                if !keep.contains(String(target)) { stale.insert(String(target)) }
            }
        }
        if !stale.isEmpty { try removeChains(stale.sorted(), operation: "collect the host ports of \(network)") }
    }

    /// Removes `chains` and every jump to them in both families. A family whose tables cannot
    /// be listed (no ip6tables, no IPv6 nat) is skipped, unless neither can (as upstream).
    private func removeChains(_ chains: [String], operation: String) throws(FirewallError) {
        var failures: [String] = []
        var listed = false
        for family in [IPAddress.Family.v4, .v6] {
            let listing: [Substring]
            do {
                guard let found = try IptablesTable.list(family) else {
                    failures.append("\(IptablesTable.tools(family).list) not installed")
                    continue
                }
                listing = found
            } catch {
                failures.append(error.description)
                continue
            }
            listed = true
            try IptablesTable.apply(
                family, chains.flatMap { IptablesTable.removal(of: $0, in: listing) }, operation: operation)
        }
        if !listed {
            throw FirewallError(
                tool: "iptables", operation: operation,
                output: "neither iptables nor ip6tables is usable: " + failures.joined(separator: "; "))
        }
    }
}
