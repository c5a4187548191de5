import JSON
import POSIX
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// ptp as the built binaries in a host namespace of the test's: veth pairs with host routes,
/// dual stack, masquerade to another network, CHECK, DEL (also twice and with the netns
/// gone), GC and STATUS, and switch-over with Debian's reference v1.1.1.
@Suite(.serialized)
struct PtpEndToEndTests {
    final class Node {
        let stage: PluginStage
        let client: String
        var bed: Testbed { stage.bed }
        var host: String { stage.host }

        init() throws {
            stage = try PluginStage()
            client = try stage.addClient()
        }

        deinit { stage.tearDown() }

        func config(_ extra: String = "", version: String = "1.0.0") -> String {
            #"{"cniVersion":"\#(version)","name":"ptpnet","type":"ptp","ipMasq":true\#(extra),"ipam":{"type":"host-local","dataDir":"\#(stage.store.path)/ipam","ranges":[[{"subnet":"10.60.0.0/24"}],[{"subnet":"fd60::/64"}]],"routes":[{"dst":"0.0.0.0/0"}]}}"#
        }

        func ptp(
            _ command: String, _ config: String, id: String, netns: String, directory: String = Testbed.binDirectory
        ) throws -> PluginOutcome {
            try bed.plugin(
                "ptp", command, config: config, host: host, containerID: id, netns: netns, binDirectory: directory,
                cniPath: directory)
        }

        func withPrevious(_ config: String, _ result: PluginOutcome) throws -> String {
            guard case .object(var object) = try JSONValue.parse(config), let json = result.json else { return config }
            object["prevResult"] = json
            return JSONValue.object(object).serialized()
        }

        var reservations: [String] {
            stage.store.files("ipam/ptpnet").filter { $0.contains(".") || $0.contains(":") }.filter {
                !$0.hasPrefix("last") && $0 != "lock"
            }
        }

        func nat() throws -> String {
            try Testbed.run(["/usr/sbin/ip", "netns", "exec", host, "/usr/sbin/iptables-save", "-t", "nat"])
        }
    }

    /// CNI_IFNAME already taken in the container: code 4 naming it, before anything is made
    /// (no veth, no address reserved, no rule), and that interface left as it was.
    @Test func anExistingInterfaceIsRefusedBeforeAnythingIsMade() throws {
        let node = try Node()
        let container = node.stage.container
        try node.bed.ip(container, "link", "add", "eth0", "type", "veth", "peer", "name", "other")
        let hostLinks = Set(try node.bed.linkNames(node.host))
        let add = try node.ptp("ADD", node.config(), id: "p1", netns: node.stage.netns)
        #expect(add.status == 1 && add.json?["code"] == 4, "\(add.output)")
        #expect(add.json?["msg"]?.stringValue?.contains("\"eth0\" already exists") == true, "\(add.output)")
        #expect(Set(try node.bed.linkNames(container)) == ["lo", "eth0", "other"])
        #expect(Set(try node.bed.linkNames(node.host)) == hostLinks, "nothing made in the host")
        #expect(node.reservations.isEmpty, "no address reserved: \(node.reservations)")
        #expect(try !node.nat().contains(#"id: \"p1\""#))
    }

    @Test func containersTalkThroughTheHostAndGetOutMasqueraded() throws {
        let node = try Node()
        let second = try node.bed.namespace("c2")
        let first = try node.ptp("ADD", node.config(), id: "p1", netns: node.stage.netns)
        #expect(first.status == 0, "\(first.output)")
        let other = try node.ptp("ADD", node.config(), id: "p2", netns: node.bed.path(second))
        #expect(other.status == 0, "\(other.output)")
        let addresses = (first.json?["ips"]?.arrayValue ?? []).compactMap { $0["address"]?.stringValue }
        #expect(addresses == ["10.60.0.2/24", "fd60::2/64"], "\(first.output)")
        #expect(first.json?["interfaces"]?.arrayValue?.count == 2)
        // Container to container through the host (no bridge), both families; out, masqueraded.
        #expect(try node.bed.ping(from: node.stage.container, "10.60.0.3"))
        #expect(try node.bed.exec(node.stage.container, "ping", "-6", "-c", "1", "-w", "3", "-q", "fd60::3") == 0)
        #expect(try node.bed.ping(from: node.stage.container, "198.51.100.2"), "masquerade to the outside")
        let routes = try node.bed.ip(node.host, "route", "show")
        #expect(routes.contains("10.60.0.2 dev veth") && routes.contains("10.60.0.3 dev veth"), "\(routes)")
        let inside = try node.bed.ip(node.stage.container, "route", "show")
        #expect(inside.contains("10.60.0.0/24 via 10.60.0.1") && inside.contains("10.60.0.1 dev eth0 scope link"))
        #expect(!inside.contains("10.60.0.0/24 dev eth0"), "no on-link subnet route: \(inside)")
        #expect(try node.nat().contains(#"id: \"p1\""#))

        let check = node.withPreviousConfig(first)
        #expect(try node.ptp("CHECK", check, id: "p1", netns: node.stage.netns).status == 0)
        #expect(try node.ptp("DEL", check, id: "p1", netns: node.stage.netns).status == 0)
        #expect(try node.bed.linkNames(node.stage.container) == ["lo"])
        #expect(!(try node.bed.ip(node.host, "route", "show")).contains("10.60.0.2 "))
        #expect(!(try node.nat()).contains(#"id: \"p1\""#))
        #expect(try node.ptp("DEL", check, id: "p1", netns: node.stage.netns).status == 0, "DEL again")
        try node.bed.deleteNamespace(second)
        #expect(try node.ptp("DEL", node.config(), id: "p2", netns: node.bed.path(second)).status == 0, "netns gone")
        #expect(node.reservations.isEmpty, "\(node.reservations)")
        #expect(!(try node.nat()).contains(#"id: \"p2\""#))
    }

    @Test func gcStatusAndMistakes() throws {
        let node = try Node()
        let second = try node.bed.namespace("c2")
        #expect(try node.ptp("ADD", node.config(), id: "keep", netns: node.stage.netns).status == 0)
        #expect(try node.ptp("ADD", node.config(), id: "drop", netns: node.bed.path(second)).status == 0)
        let gc = node.config(
            #","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]"#, version: "1.1.0")
        #expect(try node.ptp("GC", gc, id: "", netns: "").status == 0)
        let nat = try node.nat()
        #expect(nat.contains(#"id: \"keep\""#) && !nat.contains(#"id: \"drop\""#), "\(nat)")
        #expect(node.reservations.count == 2, "GC keeps keep's two addresses: \(node.reservations)")
        #expect(try node.ptp("STATUS", node.config(version: "1.1.0"), id: "", netns: "").status == 0)
        let c3 = try node.bed.namespace("c3")
        for (config, named) in [
            (#"{"cniVersion":"1.0.0","name":"ptpnet","type":"ptp"}"#, "ipam"),
            (node.config(#","mtu":50"#), "mtu"), (node.config(#","ipMasqBackend":"pf""#), "ipMasqBackend"),
        ] {
            let outcome = try node.ptp("ADD", config, id: "bad", netns: node.bed.path(c3))
            #expect(outcome.errorCode == 7 && outcome.output.contains(named), "\(outcome.output)")
        }
        #expect(try node.bed.linkNames(c3) == ["lo"])
    }

    /// Either implementation removes what the other added (veth, routes, masquerade, addresses).
    @Test(.enabled(if: Testbed.referencePluginsInstalled, "needs the reference plugins"))
    func switchOverWithTheReference() throws {
        let node = try Node()
        let reference = "/usr/lib/cni"
        for (adder, deleter) in [(reference, Testbed.binDirectory), (Testbed.binDirectory, reference)] {
            let add = try node.ptp("ADD", node.config(), id: "sw", netns: node.stage.netns, directory: adder)
            #expect(add.status == 0, "\(adder): \(add.output)")
            #expect(try node.bed.ping(from: node.stage.container, "198.51.100.2"), "\(adder)")
            let previous = node.withPreviousConfig(add)
            if deleter == Testbed.binDirectory {
                #expect(try node.ptp("CHECK", previous, id: "sw", netns: node.stage.netns).status == 0)
            }
            let delete = try node.ptp("DEL", previous, id: "sw", netns: node.stage.netns, directory: deleter)
            #expect(delete.status == 0, "\(deleter): \(delete.output)")
            #expect(try node.bed.linkNames(node.stage.container) == ["lo"])
            #expect(!(try node.nat()).contains(#"id: \"sw\""#), "\(adder) -> \(deleter)")
            #expect(node.reservations.isEmpty)
        }
    }
}

extension PtpEndToEndTests.Node {
    /// The config with `result` as prevResult (CHECK, DEL as a runtime sends them).
    func withPreviousConfig(_ result: PluginOutcome) -> String { (try? withPrevious(config(), result)) ?? config() }
}
