import JSON
import POSIX
import TestSupport
import Testing

/// Switching a live node between the reference plugins (Debian's v1.1.1 in /usr/lib/cni) and
/// ours, in both directions, with bridge `ipMasq` and `macspoofchk`, dual stack: whoever made
/// an attachment, the other's DEL (and our GC) leaves no firewall object naming it and no
/// reservation. Our firewall objects are the reference's own names and shapes.
@Suite(
    .enabled(
        if: Testbed.referencePluginsInstalled,
        "needs the reference plugins (apt-get install containernetworking-plugins)"))
struct DropInFirewallTests {
    static let reference = "/usr/lib/cni"

    struct Node {
        let stage: PluginStage
        var bed: Testbed { stage.bed }
        var host: String { stage.host }

        init() throws { stage = try PluginStage() }

        func config(backend: String? = "iptables", spoofCheck: Bool = true) -> String {
            let backendKey = backend.map { #","ipMasqBackend":"\#($0)""# } ?? ""
            return
                #"{"cniVersion":"0.4.0","name":"dropnet","type":"bridge","bridge":"dib0","isGateway":true,"ipMasq":true\#(backendKey),"macspoofchk":\#(spoofCheck),"ipam":{"type":"host-local","dataDir":"\#(stage.store.path)","ranges":[[{"subnet":"10.95.0.0/24"}],[{"subnet":"fd95::/64"}]]}}"#
        }

        /// Runs `ours` or the reference's bridge (each with its own IPAM on CNI_PATH).
        func bridge(
            _ ours: Bool, _ command: String, _ config: String, _ containerID: String, netns: String,
            ifName: String = "eth0"
        ) throws -> PluginOutcome {
            let directory = ours ? Testbed.binDirectory : DropInFirewallTests.reference
            return try bed.plugin(
                "bridge", command, config: config, host: host, containerID: containerID, netns: netns, ifName: ifName,
                binDirectory: directory, cniPath: directory)
        }

        func container(_ suffix: String) throws -> String { try bed.namespace(suffix) }

        /// iptables-save, ip6tables-save and `nft list ruleset` of the host, together.
        func firewallState() throws -> String {
            var text = ""
            for tool in ["iptables-save", "ip6tables-save"] {
                text += try Testbed.run(["/usr/sbin/ip", "netns", "exec", host, "/usr/sbin/\(tool)", "-t", "nat"])
            }
            return text
                + (try Testbed.run(["/usr/sbin/ip", "netns", "exec", host, "/usr/sbin/nft", "list", "ruleset"]))
        }

        /// What names the attachment in the firewall: its chain, comment, spoof-check chains.
        func leftovers(_ containerID: String) throws -> [String] {
            let state = try firewallState()
            let chain = "CNI-" + String(SHA512Text.hex("dropnet" + containerID).prefix(24))
            return [
                chain, #"id: \"\#(containerID)\""#, "macspoofchk-\(containerID)-", "cni-br-iface-\(containerID)-",
                "id: \(containerID)",
            ]
            .filter { state.contains($0) }
        }

        var reservations: [String] {
            stage.store.files("dropnet").filter { $0 != "lock" && !$0.hasPrefix("last_reserved_ip") }
        }

        func withPrevious(_ config: String, _ result: PluginOutcome) throws -> String {
            var value = try JSONValue.parse(config)
            if case .object(var object) = value, let json = result.json {
                object["prevResult"] = json
                value = .object(object)
            }
            return value.serialized()
        }
    }

    @Test(arguments: [true, false])
    func referenceAddThenOurCheckAndDel(_ deleteNetnsFirst: Bool) throws {
        let node = try Node()
        defer { node.stage.tearDown() }
        let config = node.config()
        let c1 = try node.container("c1")
        let add = try node.bridge(false, "ADD", config, "ref1", netns: node.bed.path(c1))
        #expect(add.status == 0, "reference ADD: \(add.output)")
        #expect(try node.leftovers("ref1").count >= 3, "the reference made no firewall objects?")
        // Our chain name and comment are the reference's.
        #expect(
            try node.firewallState().contains(
                #"-A POSTROUTING -s 10.95.0.2/32 -m comment --comment "name: \"dropnet\" id: \"ref1\"" -j CNI-"#))
        if !deleteNetnsFirst {
            let check = try node.bridge(
                true, "CHECK", try node.withPrevious(config, add), "ref1", netns: node.bed.path(c1))
            #expect(check.status == 0, "our CHECK of the reference's attachment: \(check.output)")
        } else {
            try node.bed.deleteNamespace(c1)
        }
        let del = try node.bridge(true, "DEL", try node.withPrevious(config, add), "ref1", netns: node.bed.path(c1))
        #expect(del.status == 0, "our DEL: \(del.output)")
        let left = try node.leftovers("ref1")
        let state = try node.firewallState()
        #expect(left.isEmpty, "left by our DEL: \(left)\n\(state)")
        #expect(node.reservations.isEmpty)
    }

    /// Interface names the kernel and the reference accept but nft's text syntax cannot hold
    /// unquoted (quotes, `;`, braces, `#`, backslashes, non-ASCII): made by the reference's ADD
    /// or ours with macspoofchk and ipMasq, under each backend, our DEL removes every object
    /// and reservation, and a second DEL succeeds too.
    static let hostileNames = [
        #"e"t;{x"#, #"a'b\c"#, "$x@y}", "n\u{e9}v0", #"\#u{fc}"\{"#, "#;--", "@'{}",
        RawName.decode([0x65, 0x74, 0xff]),
    ]

    @Test(arguments: ["iptables", "nftables"])
    func hostileInterfaceNamesAreRemovedByOurDel(_ backend: String) throws {
        let node = try Node()
        defer { node.stage.tearDown() }
        let config = node.config(backend: backend)
        for (index, name) in Self.hostileNames.enumerated() {
            for ours in [false, true] {
                let id = "h\(index)\(ours ? "o" : "r")"
                let netns = node.bed.path(try node.container(id))
                let add = try node.bridge(ours, "ADD", config, id, netns: netns, ifName: name)
                #expect(add.status == 0, "\(ours ? "our" : "reference") ADD of \(name): \(add.output)")
                let previous = try node.withPrevious(config, add)
                let del = try node.bridge(true, "DEL", previous, id, netns: netns, ifName: name)
                #expect(del.status == 0, "our DEL of \(name) (\(ours ? "ours" : "the reference's")): \(del.output)")
                let again = try node.bridge(true, "DEL", previous, id, netns: netns, ifName: name)
                #expect(again.status == 0, "our second DEL of \(name): \(again.output)")
                let left = try node.leftovers(id)
                let state = try node.firewallState()
                #expect(left.isEmpty, "\(name) (\(backend)) left \(left):\n\(state)")
            }
        }
        #expect(node.reservations.isEmpty, "\(node.reservations)")
        #expect(try node.bed.linkNames(node.host).filter { $0.hasPrefix("veth") }.isEmpty, "a veth leaked")
    }

    /// A masquerade comment over nft's 128 bytes is cut between characters, never inside one
    /// (a cut inside a two-byte character once made ADD fail), and DEL still finds the rule.
    @Test(arguments: [78, 79, 80])
    func aLongCommentIsCutBetweenCharacters(_ networkLength: Int) throws {
        let node = try Node()
        defer { node.stage.tearDown() }
        let network = String(repeating: "n", count: networkLength)
        let config = node.config(backend: "nftables", spoofCheck: false)
            .replacingFirst(#""name":"dropnet""#, with: #""name":"\#(network)""#)
        let name = String(repeating: "\u{e9}", count: 7)
        let netns = node.bed.path(try node.container("long"))
        let add = try node.bridge(true, "ADD", config, "long1", netns: netns, ifName: name)
        #expect(add.status == 0, "ADD: \(add.output)")
        let ruleset = try node.firewallState()
        #expect(ruleset.contains("if: \u{e9}"), "the comment holds the interface name: \(ruleset)")
        #expect(!ruleset.contains("\u{fffd}"), "no replacement character in the comment: \(ruleset)")
        let del = try node.bridge(true, "DEL", try node.withPrevious(config, add), "long1", netns: netns, ifName: name)
        #expect(del.status == 0, "DEL: \(del.output)")
        let after = try node.firewallState()
        #expect(!after.contains("masquerade comment"), "\(after)")
    }

    @Test func ourAddThenReferenceCheckAndDel() throws {
        let node = try Node()
        defer { node.stage.tearDown() }
        let config = node.config()
        let c1 = try node.container("c1")
        let add = try node.bridge(true, "ADD", config, "our1", netns: node.bed.path(c1))
        #expect(add.status == 0, "our ADD: \(add.output)")
        let check = try node.bridge(
            false, "CHECK", try node.withPrevious(config, add), "our1", netns: node.bed.path(c1))
        #expect(check.status == 0, "reference CHECK of our attachment: \(check.output)")
        let del = try node.bridge(false, "DEL", try node.withPrevious(config, add), "our1", netns: node.bed.path(c1))
        #expect(del.status == 0, "reference DEL of our attachment: \(del.output)")
        let left = try node.leftovers("our1")
        let state = try node.firewallState()
        #expect(left.isEmpty, "left after the reference's DEL: \(left)\n\(state)")
        #expect(node.reservations.isEmpty)
    }

    /// Pods of both implementations on one bridge; our GC with only one of them valid takes
    /// the others' rules and addresses, whoever made them, and leaves the valid one's.
    @Test func mixedPodsThenOurGC() throws {
        let node = try Node()
        defer { node.stage.tearDown() }
        let config = node.config(spoofCheck: false)
        var results: [String: PluginOutcome] = [:]
        for (id, ours) in [("mix1", false), ("mix2", true), ("mix3", false), ("mix4", true)] {
            let c = try node.container(id)
            let add = try node.bridge(ours, "ADD", config, id, netns: node.bed.path(c))
            #expect(add.status == 0, "\(id): \(add.output)")
            results[id] = add
        }
        var gc = try JSONValue.parse(config.replacingFirst("\"0.4.0\"", with: "\"1.1.0\""))
        if case .object(var object) = gc {
            object["cni.dev/valid-attachments"] = [["containerID": "mix2", "ifname": "eth0"]]
            gc = .object(object)
        }
        let outcome = try node.bridge(true, "GC", gc.serialized(), "gc", netns: "")
        #expect(outcome.status == 0, "GC: \(outcome.output)")
        for id in ["mix1", "mix3", "mix4"] {
            let left = try node.leftovers(id)
            #expect(left.isEmpty, "\(id) left after GC: \(left)")
        }
        #expect(try !node.leftovers("mix2").isEmpty, "GC removed a valid attachment's rules")
        #expect(node.reservations.count == 2, "the valid attachment keeps its two addresses: \(node.reservations)")
    }

    /// The nftables backend (upstream v1.6+) in the reference's format, and our DEL and GC of it.
    @Test func nftablesBackendInTheReferenceFormat() throws {
        let node = try Node()
        defer { node.stage.tearDown() }
        let config = node.config(backend: "nftables", spoofCheck: false)
        let c1 = try node.container("n1")
        let c2 = try node.container("n2")
        #expect(try node.bridge(true, "ADD", config, "nft1", netns: node.bed.path(c1)).status == 0)
        #expect(try node.bridge(true, "ADD", config, "nft2", netns: node.bed.path(c2)).status == 0)
        let ruleset = try node.firewallState()
        let hash = String(SHA512Text.hex("dropnet").prefix(16)) + "-" + String(SHA512Text.hex("eth0:nft1").prefix(16))
        #expect(ruleset.contains("table inet cni_plugins_masquerade"), "\(ruleset)")
        #expect(
            ruleset.contains(
                #"ip saddr 10.95.0.2 ip daddr != 10.95.0.0/24 masquerade comment "\#(hash), net: dropnet, if: eth0, id: nft1""#
            ), "\(ruleset)")
        #expect(ruleset.contains("goto masq_checks"))
        #expect(try node.bridge(true, "DEL", config, "nft1", netns: node.bed.path(c1)).status == 0)
        #expect(try node.leftovers("nft1").isEmpty)
        var gc = try JSONValue.parse(config.replacingFirst("\"0.4.0\"", with: "\"1.1.0\""))
        if case .object(var object) = gc {
            object["cni.dev/valid-attachments"] = []
            gc = .object(object)
        }
        #expect(try node.bridge(true, "GC", gc.serialized(), "gc", netns: "").status == 0)
        #expect(try node.leftovers("nft2").isEmpty)
    }
}

/// SHA-512 hex for the tests' expected names: `sha512sum`, not our own implementation.
enum SHA512Text {
    static func hex(_ text: String) -> String {
        let output = (try? ChildProcessText.run("/usr/bin/sha512sum", input: text)) ?? ""
        return String(output.prefix { $0 != " " })
    }
}
