import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The firewall plugin chained after bridge, as the built binaries on a host namespace whose
/// FORWARD policy is DROP (the node of a firewall-managed host): containers reach another
/// network only once firewall ADD ran; ingress policies separate bridges; the rules are the
/// reference's (Debian v1.1.1) and either DEL removes the other's.
@Suite(.serialized)
struct FirewallEndToEndTests {
    final class Node {
        let stage: PluginStage
        let client: String
        var bed: Testbed { stage.bed }
        var host: String { stage.host }

        init() throws {
            stage = try PluginStage()
            client = try stage.addClient()
            try bed.ip(client, "route", "add", "10.0.0.0/8", "via", "198.51.100.1")
        }

        deinit { stage.tearDown() }

        func iptables(_ arguments: String...) throws -> String {
            try Testbed.run(["/usr/sbin/ip", "netns", "exec", host, "/usr/sbin/iptables"] + arguments)
        }

        /// bridge ADD of a container on `bridge` with an address from `subnet`.
        func addContainer(_ id: String, netns: String, bridge: String = "fw0", subnet: String = "10.57.0.0/24")
            throws -> JSONValue
        {
            let config =
                #"{"cniVersion":"1.0.0","name":"fw-\#(bridge)","type":"bridge","bridge":"\#(bridge)","isGateway":true,"ipam":{"type":"host-local","dataDir":"\#(stage.store.path)/ipam","ranges":[[{"subnet":"\#(subnet)"}]],"routes":[{"dst":"0.0.0.0/0"}]}}"#
            let outcome = try bed.plugin("bridge", "ADD", config: config, host: host, containerID: id, netns: netns)
            #expect(outcome.status == 0, "\(outcome.output)")
            return try #require(outcome.json)
        }

        func firewall(
            _ command: String, previous: JSONValue?, id: String, netns: String, extra: String = "",
            directory: String = Testbed.binDirectory
        ) throws -> PluginOutcome {
            let prev = previous.map { #","prevResult":\#($0.serialized())"# } ?? ""
            let config = #"{"cniVersion":"1.0.0","name":"fwnet","type":"firewall"\#(extra)\#(prev)}"#
            return try bed.plugin(
                "firewall", command, config: config, host: host, containerID: id, netns: netns, binDirectory: directory,
                cniPath: directory)
        }
    }

    @Test func forwardingIsAllowedByAddAndTakenBackByDel() throws {
        let node = try Node()
        _ = try node.iptables("-P", "FORWARD", "DROP")
        let previous = try node.addContainer("f1", netns: node.stage.netns)
        #expect(!(try node.bed.ping(from: node.stage.container, "198.51.100.2")), "DROP policy: nothing forwarded yet")
        let add = try node.firewall("ADD", previous: previous, id: "f1", netns: node.stage.netns)
        #expect(add.status == 0 && add.json == previous, "\(add.output)")
        #expect(try node.bed.ping(from: node.stage.container, "198.51.100.2"))
        #expect(try node.firewall("CHECK", previous: previous, id: "f1", netns: node.stage.netns).status == 0)
        #expect(try node.firewall("DEL", previous: previous, id: "f1", netns: node.stage.netns).status == 0)
        #expect(!(try node.iptables("-S")).contains("10.57.0.2/32"))
        #expect(!(try node.bed.ping(from: node.stage.container, "198.51.100.2")), "forwarding taken back")
        let check = try node.firewall("CHECK", previous: previous, id: "f1", netns: node.stage.netns)
        #expect(check.errorCode == 103, "\(check.output)")
        #expect(
            try node.firewall("DEL", previous: previous, id: "f1", netns: node.stage.netns).status == 0, "DEL again")
    }

    /// same-bridge: a container reaches its bridge's others but not another bridge's;
    /// isolated: not even its own bridge's; with either backend (nftables: the same policy in
    /// `inet cni_firewall`).
    @Test(arguments: ["iptables", "nftables"], ["same-bridge", "isolated"])
    func ingressPolicies(_ backend: String, _ policy: String) throws {
        let node = try Node()
        let a2 = try node.bed.namespace("a2")
        let b1 = try node.bed.namespace("b1")
        let first = try node.addContainer("a1", netns: node.stage.netns, bridge: "fwa", subnet: "10.58.0.0/24")
        let second = try node.addContainer("a2", netns: node.bed.path(a2), bridge: "fwa", subnet: "10.58.0.0/24")
        let other = try node.addContainer("b1", netns: node.bed.path(b1), bridge: "fwb", subnet: "10.59.0.0/24")
        #expect(try node.bed.ping(from: node.stage.container, "10.59.0.2"), "bridges reach each other before")
        let extra = #","backend":"\#(backend)","ingressPolicy":"\#(policy)""#
        for (id, previous, netns) in [
            ("a1", first, node.stage.netns), ("a2", second, node.bed.path(a2)), ("b1", other, node.bed.path(b1)),
        ] {
            let add = try node.firewall("ADD", previous: previous, id: id, netns: netns, extra: extra)
            #expect(add.status == 0, "\(add.output)")
        }
        #expect(!(try node.bed.ping(from: node.stage.container, "10.59.0.2")), "fwa reaches fwb under \(policy)")
        #expect(try node.bed.ping(from: node.stage.container, "10.58.0.3") == (policy == "same-bridge"))
        if backend == "iptables" {
            let rules = try node.iptables("-S")
            #expect(rules.contains("-A CNI-ISOLATION-STAGE-2 -o fwa -m comment"), "\(rules)")
            #expect(rules.contains("-i fwa -o fwa -m comment") == (policy == "isolated"), "\(rules)")
        } else {
            let rules = try Testbed.run([
                "/usr/sbin/ip", "netns", "exec", node.host, "/usr/sbin/nft", "list", "ruleset",
            ])
            #expect(rules.contains("oifname \"fwa\" drop"), "\(rules)")
            #expect(rules.contains("iifname \"fwa\" oifname \"fwa\" drop") == (policy == "isolated"), "\(rules)")
        }
        let status = try node.bed.plugin(
            "firewall", "STATUS", config: #"{"cniVersion":"1.1.0","name":"fwnet","type":"firewall"\#(extra)}"#,
            host: node.host, containerID: "", netns: nil, ifName: "")
        #expect(status.status == 0, "\(status.output)")
    }

    /// The nftables backend on a host whose own nftables forward chain drops (`inet filter
    /// forward`, policy drop, as an nftables-only node's admin writes it): our table's accepts
    /// alone do not pass another table's drop; naming that chain in `nftablesForwardChain`
    /// does. DEL needs no previous result (the rules carry the container id); CHECK fails after.
    @Test func nftablesBackendOpensTheAdminsDropChain() throws {
        let node = try Node()
        node.stage.store.write(
            "admin.nft",
            "add table inet filter\nadd chain inet filter forward { type filter hook forward priority 0 ; policy drop ; }\n"
        )
        try Testbed.run([
            "/usr/sbin/ip", "netns", "exec", node.host, "/usr/sbin/nft", "-f", node.stage.store.path + "/admin.nft",
        ])
        let previous = try node.addContainer("n1", netns: node.stage.netns)
        #expect(!(try node.bed.ping(from: node.stage.container, "198.51.100.2")), "the admin's drop policy")
        let ownTableOnly = #","backend":"nftables""#
        let alone = try node.firewall("ADD", previous: previous, id: "n1", netns: node.stage.netns, extra: ownTableOnly)
        #expect(alone.status == 0, "\(alone.output)")
        #expect(!(try node.bed.ping(from: node.stage.container, "198.51.100.2")), "another table's drop still drops")
        let extra = #","backend":"nftables","nftablesForwardChain":"inet filter forward""#
        let add = try node.firewall("ADD", previous: previous, id: "n1", netns: node.stage.netns, extra: extra)
        #expect(add.status == 0 && add.json == previous, "\(add.output)")
        #expect(try node.bed.ping(from: node.stage.container, "198.51.100.2"))
        #expect(
            try node.firewall("CHECK", previous: previous, id: "n1", netns: node.stage.netns, extra: extra).status == 0)
        let ruleset = try Testbed.run(["/usr/sbin/ip", "netns", "exec", node.host, "/usr/sbin/nft", "list", "ruleset"])
        for expected in [
            "table inet cni_firewall", "jump admin",
            "ip daddr 10.57.0.2 ct state established,related accept comment \"n1\"",
            "ip saddr 10.57.0.2 accept comment \"cni firewall n1\"",
        ] {
            #expect(ruleset.contains(expected), "no \(expected) in \(ruleset)")
        }
        let del = try node.firewall("DEL", previous: nil, id: "n1", netns: node.stage.netns, extra: extra)
        #expect(del.status == 0, "\(del.output)")
        let after = try Testbed.run(["/usr/sbin/ip", "netns", "exec", node.host, "/usr/sbin/nft", "list", "ruleset"])
        #expect(!after.contains("10.57.0.2"), "\(after)")
        #expect(!(try node.bed.ping(from: node.stage.container, "198.51.100.2")), "forwarding taken back")
        let check = try node.firewall("CHECK", previous: previous, id: "n1", netns: node.stage.netns, extra: extra)
        #expect(check.errorCode == 103, "\(check.output)")
        #expect(
            try node.firewall("DEL", previous: previous, id: "n1", netns: node.stage.netns, extra: extra).status == 0)
    }

    /// `nftablesForwardChain` is code 7 without the nftables backend or when it is not
    /// `<family> <table> <chain>`; a chain that does not exist is an error naming it, and
    /// nothing is made.
    @Test func nftablesForwardChainMistakes() throws {
        let node = try Node()
        let previous = try node.addContainer("m1", netns: node.stage.netns)
        for extra in [
            #","nftablesForwardChain":"inet filter forward""#,
            #","backend":"nftables","nftablesForwardChain":"filter forward""#,
            #","backend":"nftables","nftablesForwardChain":"arp filter forward""#,
            #","backend":"firewalld2""#,
        ] {
            let outcome = try node.firewall("ADD", previous: previous, id: "m1", netns: node.stage.netns, extra: extra)
            #expect(outcome.errorCode == 7, "\(extra): \(outcome.output)")
        }
        let missing = try node.firewall(
            "ADD", previous: previous, id: "m1", netns: node.stage.netns,
            extra: #","backend":"nftables","nftablesForwardChain":"inet nosuch forward""#)
        #expect(missing.status != 0 && missing.output.contains("inet nosuch forward"), "\(missing.output)")
        let ruleset = try Testbed.run(["/usr/sbin/ip", "netns", "exec", node.host, "/usr/sbin/nft", "list", "ruleset"])
        #expect(!ruleset.contains("10.57.0.2"), "\(ruleset)")
    }

    /// Ours and the reference's make the same filter rules, and each DEL removes the other's.
    @Test(.enabled(if: Testbed.referencePluginsInstalled, "needs the reference plugins"))
    func theReferencesRulesBothWays() throws {
        let node = try Node()
        let previous = try node.addContainer("f2", netns: node.stage.netns)
        func save() throws -> String {
            try Testbed.run(["/usr/sbin/ip", "netns", "exec", node.host, "/usr/sbin/iptables-save", "-t", "filter"])
                .split(separator: "\n").filter { !$0.hasPrefix("#") }
                .map { $0.replacing(/\[\d+:\d+\]/, with: "") }.joined(separator: "\n")
        }
        let reference = "/usr/lib/cni"
        #expect(
            try node.firewall("ADD", previous: previous, id: "f2", netns: node.stage.netns, directory: reference).status
                == 0)
        let theirs = try save()
        #expect(try node.firewall("CHECK", previous: previous, id: "f2", netns: node.stage.netns).status == 0)
        #expect(try node.firewall("DEL", previous: previous, id: "f2", netns: node.stage.netns).status == 0)
        #expect(!(try save()).contains("10.57.0.2"))
        #expect(try node.firewall("ADD", previous: previous, id: "f2", netns: node.stage.netns).status == 0)
        #expect(try save() == theirs)
        #expect(
            try node.firewall("DEL", previous: previous, id: "f2", netns: node.stage.netns, directory: reference).status
                == 0)
        #expect(!(try save()).contains("10.57.0.2"))
    }

    /// nerdctl runs `firewall` without CNI_COMMAND and reads `CNI firewall plugin v<semver>`
    /// from stderr; mistakes are code 7; the firewalld backend without a firewalld to answer
    /// is an error naming it (its real tests run in the VM: FirewalldVMTests).
    @Test func nerdctlsVersionLineAndMistakes() throws {
        let bare = try ChildProcess.run(
            Testbed.binDirectory + "/firewall", environment: [], captureStandardError: true)
        let stderr = String(decoding: bare.standardError, as: UTF8.self)
        #expect(
            stderr.split(separator: "\n").contains { $0.hasPrefix("CNI firewall plugin v1.9.0+swift-cni.") },
            "\(stderr)")
        let node = try Node()
        let previous = try node.addContainer("f3", netns: node.stage.netns)
        for (extra, named) in [
            (#","backend":"firewalld2""#, "backend"), (#","firewalldZone":"a b""#, "firewalldZone"),
            (#","ingressPolicy":"closed""#, "ingressPolicy"),
            (#","iptablesAdminChainName":"a b""#, "iptablesAdminChainName"),
        ] {
            let outcome = try node.firewall("ADD", previous: previous, id: "f3", netns: node.stage.netns, extra: extra)
            #expect(outcome.errorCode == 7 && outcome.output.contains(named), "\(outcome.output)")
        }
        #expect(try node.firewall("ADD", previous: nil, id: "f3", netns: node.stage.netns).errorCode == 7)
        let noFirewalld = try node.firewall(
            "ADD", previous: previous, id: "f3", netns: node.stage.netns, extra: #","backend":"firewalld""#)
        #expect(
            noFirewalld.status != 0 && noFirewalld.output.contains("firewalld: add sources to zone trusted failed"),
            "\(noFirewalld.output)")
        #expect(!(try node.iptables("-S")).contains("CNI-FORWARD"), "nothing made")
    }
}
