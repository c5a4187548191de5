import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// bandwidth chained after bridge, as the built binaries in a host namespace of the test's:
/// real TCP transfers run at the configured rates (±15 %) each way; the TBF and ifb upstream
/// makes; CHECK; DEL; the reference's (Debian v1.1.1) and ours each check and remove the
/// other's; through libcni with the `bandwidth` capability beside portmap.
@Suite(.serialized)
struct BandwidthEndToEndTests {
    final class Node {
        let stage: PluginStage
        var bed: Testbed { stage.bed }
        var host: String { stage.host }
        init() throws { stage = try PluginStage() }
        deinit { stage.tearDown() }

        static let bridgeConfig =
            #"{"cniVersion":"1.0.0","name":"bwnet","type":"bridge","bridge":"bw0","isGateway":true,"ipam":{"type":"host-local","dataDir":"DATA","ranges":[[{"subnet":"10.63.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}"#

        func addContainer(_ id: String = "b1") throws -> JSONValue {
            let outcome = try bed.plugin(
                "bridge", "ADD", config: Self.bridgeConfig.replacing("DATA", with: stage.store.path + "/ipam"),
                host: host, containerID: id, netns: stage.netns)
            #expect(outcome.status == 0, "\(outcome.output)")
            return try #require(outcome.json)
        }

        func bandwidth(
            _ command: String, _ keys: String, previous: JSONValue?, id: String = "b1",
            directory: String = Testbed.binDirectory
        ) throws -> PluginOutcome {
            let prev = previous.map { #","prevResult":\#($0.serialized())"# } ?? ""
            let config = #"{"cniVersion":"1.0.0","name":"bwnet","type":"bandwidth"\#(keys)\#(prev)}"#
            return try bed.plugin(
                "bandwidth", command, config: config, host: host, containerID: id, netns: stage.netns,
                binDirectory: directory, cniPath: directory)
        }

        /// Bytes per second of a 2 s TCP transfer from `sender` to `receiver` at `address`.
        func rate(from sender: String, to receiver: String, address: String, port: Int) throws -> Int {
            let probe = VMSuiteTests.repositoryRoot + "/integration/rate-probe.py"
            let log = stage.store.path + "/rate-\(port)"
            let server = try ChildProcess.spawn(
                "/usr/sbin/ip",
                arguments: ["netns", "exec", receiver, "/usr/bin/python3", probe, "recv", String(port)],
                environment: ["PATH=/usr/bin:/bin"], logFile: log)
            usleep(300_000)
            _ = try ChildProcess.run(
                "/usr/sbin/ip",
                arguments: ["netns", "exec", sender, "/usr/bin/python3", probe, "send", address, String(port)],
                environment: ["PATH=/usr/bin:/bin"])
            var status: Int32 = 0
            waitpid(server, &status, 0)
            return Int(stage.store.read("rate-\(port)")?.trimmingWhitespace ?? "") ?? 0
        }

        func links() throws -> [String] { try bed.linkNames(host) }
    }

    static let limits = #","ingressRate":8000000,"ingressBurst":80000,"egressRate":4000000,"egressBurst":80000"#

    @Test func transfersRunAtTheConfiguredRatesEachWay() throws {
        let node = try Node()
        let previous = try node.addContainer()
        let add = try node.bandwidth("ADD", Self.limits, previous: previous)
        #expect(add.status == 0, "\(add.output)")
        let ifb = try #require(
            add.json?["interfaces"]?.arrayValue?.compactMap { $0["name"]?.stringValue }.first { $0.hasPrefix("bwp") })
        let linksNow = try node.links()
        #expect(ifb.count == 15 && linksNow.contains(ifb))
        let egress = try node.rate(from: node.stage.container, to: node.host, address: "10.63.0.1", port: 5101)
        let ingress = try node.rate(from: node.host, to: node.stage.container, address: "10.63.0.2", port: 5102)
        FileIO.writeAll(
            .standardError,
            "bandwidth: egress \(egress) B/s (4 Mbit/s = 500000), ingress \(ingress) B/s (8 Mbit/s = 1000000)\n")
        #expect(abs(egress - 500_000) <= 75_000, "egress \(egress) B/s")
        #expect(abs(ingress - 1_000_000) <= 150_000, "ingress \(ingress) B/s")
        #expect(try node.bandwidth("CHECK", Self.limits, previous: add.json).status == 0)
        let other = try node.bandwidth("CHECK", #","ingressRate":9000000,"ingressBurst":80000"#, previous: add.json)
        #expect(other.errorCode == 103, "\(other.output)")
        #expect(try node.bandwidth("DEL", Self.limits, previous: add.json).status == 0)
        #expect(!(try node.links()).contains(ifb))
        #expect(try node.bandwidth("DEL", Self.limits, previous: add.json).status == 0, "DEL again")
    }

    @Test func zeroRatesPassThroughAndMistakesAreCode7() throws {
        let node = try Node()
        let previous = try node.addContainer()
        let before = try node.links()
        let pass = try node.bandwidth("ADD", #","ingressRate":0,"ingressBurst":0"#, previous: previous)
        #expect(pass.status == 0 && pass.json == previous, "\(pass.output)")
        for (keys, named) in [
            (#","ingressRate":1000"#, "ingressBurst"), (#","egressBurst":1000"#, "egressRate"),
            (#","egressRate":1000,"egressBurst":40000000000"#, "egressBurst"),
            (#","ingressRate":-1,"ingressBurst":1"#, "ingressRate"),
            (#","runtimeConfig":{"bandwidth":{"ingressRate":"fast","ingressBurst":1}}"#, "ingressRate"),
        ] {
            let outcome = try node.bandwidth("ADD", keys, previous: previous)
            #expect(outcome.errorCode == 7 && outcome.output.contains(named), "\(named): \(outcome.output)")
        }
        #expect(try node.links() == before, "nothing made")
    }

    @Test(.enabled(if: Testbed.referencePluginsInstalled, "needs the reference plugins"))
    func eachChecksAndRemovesWhatTheOtherMade() throws {
        let node = try Node()
        let previous = try node.addContainer()
        let reference = "/usr/lib/cni"
        for (adder, other) in [(reference, Testbed.binDirectory), (Testbed.binDirectory, reference)] {
            let add = try node.bandwidth("ADD", Self.limits, previous: previous, directory: adder)
            #expect(add.status == 0, "\(adder): \(add.output)")
            let check = try node.bandwidth("CHECK", Self.limits, previous: add.json, directory: other)
            #expect(check.status == 0, "\(other) checks \(adder)'s: \(check.output)")
            #expect(try node.bandwidth("DEL", Self.limits, previous: add.json, directory: other).status == 0)
            #expect(!(try node.links()).contains { $0.hasPrefix("bwp") }, "\(adder) -> \(other)")
            // The host veth's qdiscs go with its container; start the next round clean.
            let veth = try #require(try node.links().first { $0.hasPrefix("veth") })
            _ = try? Testbed.run([
                "/usr/sbin/ip", "netns", "exec", node.host, "/usr/sbin/tc", "qdisc", "del", "dev", veth, "root",
            ])
            _ = try? Testbed.run([
                "/usr/sbin/ip", "netns", "exec", node.host, "/usr/sbin/tc", "qdisc", "del", "dev", veth, "ingress",
            ])
        }
    }

    /// k3s's and Kubernetes' way: bridge -> portmap -> bandwidth through libcni, the limits as
    /// the `bandwidth` capability argument (what kubelet takes from pod annotations).
    @Test func bridgePortmapBandwidthThroughLibcni() throws {
        let node = try Node()
        let list = node.stage.store.path + "/net.conflist"
        node.stage.store.write(
            "net.conflist",
            #"{"cniVersion":"1.0.0","name":"bwnet","plugins":[\#(Node.bridgeConfig.replacing("DATA", with: node.stage.store.path + "/ipam").replacing(#""cniVersion":"1.0.0","name":"bwnet","#, with: "")),{"type":"portmap","capabilities":{"portMappings":true}},{"type":"bandwidth","capabilities":{"bandwidth":true}}]}"#
        )
        let cache = node.stage.store.path + "/cache"
        let capabilities =
            #"{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],"bandwidth":{"egressRate":4000000,"egressBurst":80000}}"#
        let (added, output, errors) = try LibcniInteropTests.drive(
            "add", list, host: node.host, netns: node.stage.netns, containerID: "k1", cache: cache,
            capabilities: capabilities)
        #expect(added == 0 && output.contains("bwp"), "\(errors)\(output)")
        let egress = try node.rate(from: node.stage.container, to: node.host, address: "10.63.0.1", port: 5103)
        #expect(abs(egress - 500_000) <= 75_000, "egress \(egress) B/s")
        let (checked, _, checkErrors) = try LibcniInteropTests.drive(
            "check", list, host: node.host, netns: node.stage.netns, containerID: "k1", cache: cache,
            capabilities: capabilities)
        #expect(checked == 0, "\(checkErrors)")
        let (deleted, _, deleteErrors) = try LibcniInteropTests.drive(
            "del", list, host: node.host, netns: node.stage.netns, containerID: "k1", cache: cache,
            capabilities: capabilities)
        #expect(deleted == 0, "\(deleteErrors)")
        #expect(!(try node.links()).contains { $0.hasPrefix("bwp") || $0.hasPrefix("veth") })
    }
}
