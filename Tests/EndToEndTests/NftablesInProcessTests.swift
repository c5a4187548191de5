import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// nf_tables in the process: every nftables-using plugin and verb runs without exec'ing `nft`,
/// and what it writes is what `nft` itself compiles from the text `nft list ruleset` shows for
/// it, expression by expression, so the reference, Podman and `nft` read our rules as theirs.
@Suite(.serialized)
struct NftablesInProcessTests {
    static func bridgeConfig(_ stage: PluginStage) -> String {
        #"{"cniVersion":"1.1.0","name":"nftnet","type":"bridge","bridge":"nft0","isGateway":true,"ipMasq":true,"ipMasqBackend":"nftables","macspoofchk":true,"ipam":{"type":"host-local","dataDir":"\#(stage.store.path)/ipam","ranges":[[{"subnet":"10.71.0.0/24"}],[{"subnet":"fd71::/64"}]]}}"#
    }

    /// bridge ADD (`bridgeConfig`) of container c1; the outcome, its status checked.
    static func addBridge(_ stage: PluginStage) throws -> PluginOutcome {
        let added = try stage.bed.plugin(
            "bridge", "ADD", config: bridgeConfig(stage), host: stage.host, containerID: "c1", netns: stage.netns)
        #expect(added.status == 0, "\(added.output)")
        return added
    }

    static func ptpConfig(_ stage: PluginStage) -> String {
        #"{"cniVersion":"1.0.0","name":"nftptp","type":"ptp","ipMasq":true,"ipMasqBackend":"nftables","ipam":{"type":"host-local","dataDir":"\#(stage.store.path)/ipam","ranges":[[{"subnet":"10.72.0.0/24"}]]}}"#
    }

    /// portmap on the nftables backend with a condition, chained after `previous`.
    static func portmapConfig(_ previous: JSONValue) -> String {
        let mappings =
            #"[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":5353,"containerPort":53,"protocol":"udp"},{"hostPort":9090,"containerPort":80,"protocol":"tcp","hostIP":"198.51.100.1"}]"#
        return
            #"{"cniVersion":"1.1.0","name":"nftnet","type":"portmap","backend":"nftables","conditionsV4":["ip","saddr","!=","192.0.2.0/24"],"conditionsV6":["iifname","!=","up0"],"runtimeConfig":{"portMappings":\#(mappings)},"prevResult":\#(previous.serialized())}"#
    }

    /// Runs a plugin in the host namespace under `strace -f -e trace=execve`, as `Testbed.plugin`
    /// runs it; returns its outcome and every program it (or a child) exec'd.
    static func traced(
        _ stage: PluginStage, _ name: String, _ command: String, config: String, containerID: String = "c1",
        netns: String? = nil
    ) throws -> (outcome: PluginOutcome, programs: [String]) {
        let log = stage.store.path + "/strace-\(name)-\(command).log"
        let environment = [
            "CNI_COMMAND=\(command)", "CNI_CONTAINERID=\(containerID)", "CNI_NETNS=\(netns ?? "")",
            "CNI_IFNAME=eth0", "CNI_PATH=\(Testbed.binDirectory)", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        let run = try ChildProcess.run(
            "/usr/sbin/ip",
            arguments: [
                "netns", "exec", stage.host, "/usr/bin/strace", "-f", "-qq", "-e", "trace=execve", "-o", log,
                Testbed.binDirectory + "/" + name,
            ],
            environment: environment, input: Array(config.utf8))
        let trace = String(decoding: try FileIO.readFile(log, limit: 1 << 20), as: UTF8.self)
        // Each line: `<pid> execve("<path>", [...], ...) = 0`.
        let programs = trace.split(separator: "\n").compactMap { line -> String? in
            guard let start = line.firstRange(of: "execve(\"") else { return nil }
            let rest: Substring = line[start.upperBound...]
            return String(rest.prefix { $0 != "\"" })
        }
        return (
            PluginOutcome(status: run.status, output: String(decoding: run.standardOutput, as: UTF8.self)), programs
        )
    }

    /// bridge (ipMasq, macspoofchk), ptp (ipMasq) and portmap on nftables, through ADD, CHECK,
    /// GC, STATUS and DEL: the rules are made and removed, and nothing is exec'd but the plugins
    /// themselves and, on DEL, iptables (teardown also looks at the other backend, as
    /// upstream's does); never `nft`.
    @Test func noVerbOfAnyNftablesPluginExecsNft() throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let ptpContainer = try stage.bed.namespace("p")
        var programs: [String] = []
        func step(
            _ name: String, _ command: String, _ config: String, netns: String?, containerID: String = "c1"
        ) throws -> PluginOutcome {
            let (outcome, exec) = try Self.traced(
                stage, name, command, config: config, containerID: containerID, netns: netns)
            #expect(outcome.status == 0, "\(name) \(command): \(outcome.output)")
            #expect(exec.first?.hasSuffix("/" + name) == true, "strace saw \(exec)")
            programs += exec
            return outcome
        }
        let bridge = Self.bridgeConfig(stage)
        let added = try step("bridge", "ADD", bridge, netns: stage.netns)
        let previous = try #require(added.json)
        let portmap = Self.portmapConfig(previous)
        _ = try step("portmap", "ADD", portmap, netns: stage.netns)
        _ = try step("ptp", "ADD", Self.ptpConfig(stage), netns: stage.bed.path(ptpContainer), containerID: "p1")
        let ruleset = try Testbed.run(["/usr/sbin/ip", "netns", "exec", stage.host, "/usr/sbin/nft", "list", "ruleset"])
        for made in [
            "ip saddr 10.71.0.2 ip daddr != 10.71.0.0/24 masquerade", "10.72.0.2", "dnat to 10.71.0.2:80",
            "ether saddr", "ip saddr != 192.0.2.0/24 fib daddr type local jump hostports_all",
            "iifname != \"up0\" fib daddr type local jump hostports_all",
        ] {
            #expect(ruleset.contains(made), "missing \(made) in \(ruleset)")
        }
        let bridgeWithResult = bridge.replacingFirst(
            #""type":"bridge","#, with: #""type":"bridge","prevResult":\#(previous.serialized()),"#)
        _ = try step("bridge", "CHECK", bridgeWithResult, netns: stage.netns)
        _ = try step("portmap", "CHECK", portmap, netns: stage.netns)
        let gc = bridge.replacingFirst(
            #""type":"bridge","#,
            with: #""type":"bridge","cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}],"#)
        _ = try step("bridge", "GC", gc, netns: nil, containerID: "")
        _ = try step("bridge", "STATUS", bridge, netns: nil, containerID: "")
        _ = try step("portmap", "DEL", portmap, netns: stage.netns)
        let before = programs.count
        _ = try step("bridge", "DEL", bridge, netns: stage.netns)
        if Self.iptablesIsNftBased {
            // iptables-nft's tables are nf_tables ones: the attachment has no chain there, so
            // the DEL's look at the iptables backend costs no exec.
            let execs = programs[before...].map { URLPath.lastComponent($0) }
            #expect(execs.allSatisfy { $0 == "bridge" || $0 == "host-local" }, "bridge DEL exec'd \(execs)")
        }
        _ = try step("ptp", "DEL", Self.ptpConfig(stage), netns: stage.bed.path(ptpContainer), containerID: "p1")
        let after = try Testbed.run(["/usr/sbin/ip", "netns", "exec", stage.host, "/usr/sbin/nft", "list", "ruleset"])
        for gone in ["10.71.0.2", "10.72.0.2", "ether saddr", "dnat"] {
            #expect(!after.contains(gone), "\(gone) left in \(after)")
        }
        let nft = programs.filter { $0.hasSuffix("/nft") || $0 == "nft" }
        #expect(nft.isEmpty, "exec'd: \(nft)")
        let allowed: Set<String> = ["bridge", "portmap", "ptp", "host-local", "iptables", "ip6tables"]
        #expect(Set(programs.map { URLPath.lastComponent($0) }).isSubset(of: allowed), "exec'd: \(Set(programs))")
    }

    /// The kernel expressions of a namespace's rules as `nft --debug=netlink list ruleset`
    /// prints them, rule by rule, without the handles (which differ with the order of making).
    static func expressions(_ namespace: String) throws -> [String] {
        let outcome = try ChildProcess.run(
            "/usr/sbin/ip",
            arguments: ["netns", "exec", namespace, "/usr/sbin/nft", "--debug=netlink", "list", "ruleset"],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], captureStandardError: true)
        let text = String(decoding: outcome.standardOutput, as: UTF8.self)
        return text.split(separator: "\n").compactMap { line -> String? in
            if line.hasPrefix("  [") || line.hasPrefix("  userdata") { return String(line) }
            let words = line.split(separator: " ")
            // A rule's header: `<family> <table> <chain> <handle> [<position>]`.
            if words.count >= 4, ["ip", "ip6", "inet", "bridge"].contains(words[0]), Int(words[3]) != nil {
                return words[0...2].joined(separator: " ")
            }
            return nil
        }
    }

    /// Our masquerade, spoof check, host-port (both families, a condition each) and firewall
    /// (`ct state`, an isolated bridge) rules hold the very expressions and user data `nft -f`
    /// makes from their own listing, and list as the same JSON; so `nft`, the reference and
    /// Podman read them as their own.
    @Test func ourRulesAreWhatNftCompilesFromTheirListing() throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let added = try Self.addBridge(stage)
        let portmap = try stage.bed.plugin(
            "portmap", "ADD", config: Self.portmapConfig(try #require(added.json)), host: stage.host,
            containerID: "c1", netns: stage.netns)
        #expect(portmap.status == 0, "\(portmap.output)")
        let firewall = try stage.bed.plugin(
            "firewall", "ADD",
            config:
                #"{"cniVersion":"1.1.0","name":"nftnet","type":"firewall","backend":"nftables","ingressPolicy":"isolated","prevResult":\#(try #require(added.json).serialized())}"#,
            host: stage.host, containerID: "c1", netns: stage.netns)
        #expect(firewall.status == 0, "\(firewall.output)")
        let listing = try Testbed.run(["/usr/sbin/ip", "netns", "exec", stage.host, "/usr/sbin/nft", "list", "ruleset"])
        for table in [
            "inet cni_plugins_masquerade", "bridge nat", "ip cni_hostport", "ip6 cni_hostport", "inet cni_firewall",
        ] {
            #expect(listing.contains("table \(table) {"), "no \(table) in \(listing)")
        }
        let twin = try stage.bed.namespace("twin")
        stage.store.write("ruleset.nft", listing)
        let script = stage.store.path + "/ruleset.nft"
        try Testbed.run(["/usr/sbin/ip", "netns", "exec", twin, "/usr/sbin/nft", "-f", script])
        let ours = try Self.expressions(stage.host)
        #expect(ours.count > 40, "\(ours)")
        #expect(ours == (try Self.expressions(twin)))
        func json(_ namespace: String) throws -> JSONValue {
            func withoutHandles(_ value: JSONValue) -> JSONValue {
                if let object = value.objectValue {
                    return .object(
                        JSONObject(
                            object.members.filter { $0.key != "handle" }.map { ($0.key, withoutHandles($0.value)) }))
                }
                if let array = value.arrayValue { return .array(array.map(withoutHandles)) }
                return value
            }
            let entries =
                try JSONValue.parse(
                    try Testbed.run([
                        "/usr/sbin/ip", "netns", "exec", namespace, "/usr/sbin/nft", "-j", "list", "ruleset",
                    ])
                )["nftables"]?.arrayValue ?? []
            return withoutHandles(.array(entries.filter { $0["metainfo"] == nil }))
        }
        #expect(try json(stage.host) == (try json(twin)))
    }

    /// nftables conditions are compiled in the process; words the compiler does not know are
    /// code 7 naming the key and the words, and nothing is made.
    @Test func anUnknownNftablesConditionIsAConfigErrorAndMakesNothing() throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let added = try stage.bed.plugin(
            "bridge", "ADD", config: Self.bridgeConfig(stage).replacing(#""ipMasq":true"#, with: #""ipMasq":false"#),
            host: stage.host, containerID: "c1", netns: stage.netns)
        #expect(added.status == 0, "\(added.output)")
        let config = Self.portmapConfig(try #require(added.json)).replacing(
            #"["ip","saddr","!=","192.0.2.0/24"]"#, with: #"["ip","saddr","!=","192.0.2.0/24","tcp","dport","22"]"#)
        let outcome = try stage.bed.plugin(
            "portmap", "ADD", config: config, host: stage.host, containerID: "c1", netns: stage.netns)
        #expect(outcome.errorCode == 7, "\(outcome.output)")
        let message = outcome.json?["msg"]?.stringValue ?? ""
        #expect(message.contains("conditionsV4") && message.contains("tcp dport 22"), "\(message)")
        let ruleset = try Testbed.run(["/usr/sbin/ip", "netns", "exec", stage.host, "/usr/sbin/nft", "list", "ruleset"])
        #expect(!ruleset.contains("cni_hostport"), "\(ruleset)")
    }

    /// A second attachment's ADD only adds its own rules, and a repeated portmap ADD changes
    /// nothing: every rule and chain already there keeps its handle (nothing was flushed,
    /// deleted or re-added, so the kernel has no release to wait for when the plugin's socket
    /// closes).
    @Test func aSecondAttachmentOnlyAddsItsRules() throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let second = try stage.bed.namespace("c2")
        func portmap(_ id: String, _ netns: String, _ previous: JSONValue) throws {
            let outcome = try stage.bed.plugin(
                "portmap", "ADD", config: Self.portmapConfig(previous), host: stage.host, containerID: id,
                netns: netns)
            #expect(outcome.status == 0, "\(outcome.output)")
        }
        func add(_ id: String, _ netns: String) throws -> JSONValue {
            let added = try stage.bed.plugin(
                "bridge", "ADD", config: Self.bridgeConfig(stage), host: stage.host, containerID: id, netns: netns)
            #expect(added.status == 0, "\(added.output)")
            let previous = try #require(added.json)
            try portmap(id, netns, previous)
            return previous
        }
        func handled() throws -> [String] {
            try Testbed.run(["/usr/sbin/ip", "netns", "exec", stage.host, "/usr/sbin/nft", "-a", "list", "ruleset"])
                .split(separator: "\n").filter { $0.contains("# handle") }.map { String($0).trimmingWhitespace }
        }
        let previous = try add("c1", stage.netns)
        let first = try handled()
        #expect(first.count > 20, "\(first)")
        try portmap("c1", stage.netns, previous)
        #expect(try handled() == first, "a repeated portmap ADD changed the ruleset")
        _ = try add("c2", stage.bed.path(second))
        let after = try handled()
        let lost = first.filter { !after.contains($0) }
        #expect(lost.isEmpty, "re-made by the second ADD: \(lost)")
        #expect(after.count > first.count)
    }

    /// A transaction the kernel refuses (here: an admin made `prerouting` a filter chain, so the
    /// DNAT rules it reaches fail the commit's validation) is an error naming nf_tables and
    /// what was refused, and the kernel applies none of it.
    @Test func aRefusedTransactionIsAnErrorAndAppliesNothing() throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let added = try Self.addBridge(stage)
        stage.store.write(
            "filter.nft",
            "add table ip cni_hostport\nadd chain ip cni_hostport prerouting { type filter hook prerouting priority -100 ; }\n"
        )
        try Testbed.run([
            "/usr/sbin/ip", "netns", "exec", stage.host, "/usr/sbin/nft", "-f", stage.store.path + "/filter.nft",
        ])
        let outcome = try stage.bed.plugin(
            "portmap", "ADD", config: Self.portmapConfig(try #require(added.json)), host: stage.host,
            containerID: "c1", netns: stage.netns)
        #expect(outcome.status != 0, "\(outcome.output)")
        let message = outcome.json?["msg"]?.stringValue ?? ""
        #expect(message.contains("nf_tables") && message.contains("not supported"), "\(message)")
        let table = try Testbed.run([
            "/usr/sbin/ip", "netns", "exec", stage.host, "/usr/sbin/nft", "list", "table", "ip", "cni_hostport",
        ])
        #expect(!table.contains("10.71.0.2") && !table.contains("hostports"), "\(table)")
    }

    /// /usr/sbin/iptables is iptables-nft (Debian's default).
    static var iptablesIsNftBased: Bool {
        guard let resolved = realpath("/usr/sbin/iptables", nil) else { return false }
        defer { free(resolved) }
        return String(cString: resolved).hasSuffix("/xtables-nft-multi")
    }

    /// A DEL still removes what the other backend made: an attachment masqueraded with
    /// iptables, deleted with a config saying nftables, leaves no chain (on iptables-nft the
    /// chain is found in nf_tables, then removed with iptables).
    @Test func aDelRemovesTheOtherBackendsMasquerade() throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let iptablesConfig = Self.bridgeConfig(stage).replacing(
            #""ipMasqBackend":"nftables""#, with: #""ipMasqBackend":"iptables""#)
        let added = try stage.bed.plugin(
            "bridge", "ADD", config: iptablesConfig, host: stage.host, containerID: "c1", netns: stage.netns)
        #expect(added.status == 0, "\(added.output)")
        func nat() throws -> String {
            try Testbed.run(["/usr/sbin/ip", "netns", "exec", stage.host, "/usr/sbin/iptables", "-t", "nat", "-S"])
                + (try Testbed.run([
                    "/usr/sbin/ip", "netns", "exec", stage.host, "/usr/sbin/ip6tables", "-t", "nat", "-S",
                ]))
        }
        let made = try nat()
        #expect(made.contains("-N CNI-"), "\(made)")
        let deleted = try stage.bed.plugin(
            "bridge", "DEL", config: Self.bridgeConfig(stage), host: stage.host, containerID: "c1", netns: stage.netns)
        #expect(deleted.status == 0, "\(deleted.output)")
        let left = try nat()
        #expect(!left.contains("CNI-"), "\(left)")
    }
}
