import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Our `cnitool` (the multi-call binary under that name) as people use the CNI project's:
/// `cnitool add|check|del|gc|status NETWORK NETNS`, configs from NETCONFPATH, plugins from
/// CNI_PATH (ours or the reference's), libcni's result cache shared with a libcni runtime.
@Suite(.serialized, .enabled(if: !Testbed.insideVM))
struct CNIToolTests {
    /// The multi-call binary of this build (`swift-cni`), run as `cnitool` through a link.
    static let cnitool: String = {
        let build = String(
            Testbed.binDirectory[..<(Testbed.binDirectory.lastIndex(of: "/") ?? Testbed.binDirectory.endIndex)])
        let link = build + "/cnitool"
        unlink(link)
        return symlink("swift-cni", link) == 0 ? link : build + "/swift-cni"
    }()

    struct Lab {
        let stage: PluginStage
        var dir: String { stage.store.path }
        var cache: String { dir + "/cache" }

        init(conflist: String? = nil, file: String = "10-net.conflist") throws {
            stage = try PluginStage()
            try Testbed.run(["/bin/mkdir", "-p", dir + "/net.d"])
            let text =
                conflist
                ?? #"{"cniVersion":"1.1.0","name":"ctnet","plugins":[{"type":"bridge","bridge":"ct0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","dataDir":"DIR/ipam","ranges":[[{"subnet":"10.66.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#
            stage.store.write("net.d/" + file, text.replacing("DIR", with: dir))
        }

        /// Runs cnitool in the host namespace; (status, stdout, stderr).
        func run(
            _ arguments: [String], cniPath: String = Testbed.binDirectory, capabilities: String? = nil,
            cniArgs: String? = nil
        ) throws -> (Int32, String, String) {
            var environment = [
                "NETCONFPATH=\(dir)/net.d", "CNI_PATH=\(cniPath)", "CNI_CACHE_DIR=\(cache)",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            ]
            if let capabilities { environment.append("CAP_ARGS=\(capabilities)") }
            if let cniArgs { environment.append("CNI_ARGS=\(cniArgs)") }
            let outcome = try ChildProcess.run(
                "/usr/sbin/ip", arguments: ["netns", "exec", stage.host, CNIToolTests.cnitool] + arguments,
                environment: environment, captureStandardError: true)
            return (
                outcome.status, String(decoding: outcome.standardOutput, as: UTF8.self),
                String(decoding: outcome.standardError, as: UTF8.self)
            )
        }

        /// cnitool's container id for a netns path: "cnitool-" and 20 hex digits of its SHA-512.
        func containerID(_ netns: String) -> String { "cnitool-" + String(SHA512.hex(netns).prefix(20)) }

        var reservations: [String] { stage.store.files("ipam/ctnet").filter { $0.hasPrefix("10.") } }
        var cached: [String] { stage.store.files("cache/results") }
    }

    static let mappings = #"{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}"#

    @Test func addCheckDelOfOurChainInLibcnisCache() throws {
        let lab = try Lab()
        defer { lab.stage.tearDown() }
        let netns = lab.stage.netns
        let (added, output, errors) = try lab.run(["add", "ctnet", netns], capabilities: Self.mappings)
        #expect(added == 0, "\(errors)")
        let result = try JSONValue.parse(output)
        #expect(result["cniVersion"] == "1.1.0" && result["ips"]?.arrayValue?.count == 1, "\(output)")
        #expect(lab.cached == ["ctnet-\(lab.containerID(netns))-eth0"])
        let entry = try JSONValue.parse(try FileIO.readFile(lab.cache + "/results/" + lab.cached[0]))
        #expect(entry["kind"] == "cniCacheV1" && entry["netns"]?.stringValue == netns)
        #expect(entry["capabilityArgs"]?["portMappings"]?.arrayValue?.count == 1)
        let rules = try Testbed.run([
            "/usr/sbin/ip", "netns", "exec", lab.stage.host, "/usr/sbin/iptables", "-t", "nat", "-S",
        ])
        #expect(rules.contains("--dport 8080 -j DNAT --to-destination 10.66.0.2:80"), "\(rules)")
        #expect(try lab.run(["check", "ctnet", netns], capabilities: Self.mappings).0 == 0)
        // DEL without CAP_ARGS takes the ADD's from the cache: the portmap rules go too.
        #expect(try lab.run(["del", "ctnet", netns]).0 == 0)
        #expect(lab.cached.isEmpty && lab.reservations.isEmpty)
        let after = try Testbed.run([
            "/usr/sbin/ip", "netns", "exec", lab.stage.host, "/usr/sbin/iptables", "-t", "nat", "-S",
        ])
        #expect(!after.contains("10.66.0.2"), "\(after)")
        #expect(try lab.run(["del", "ctnet", netns]).0 == 0, "DEL again: nothing left, still fine")
    }

    /// libcni (Debian's 1.1.2, the library in containerd, CRI-O and Podman) and our cnitool on
    /// one cache: each DELs what the other added.
    @Test func libcniAndOurCnitoolShareTheCache() throws {
        let lab = try Lab(
            conflist:
                #"{"cniVersion":"1.0.0","name":"ctnet","plugins":[{"type":"bridge","bridge":"ct0","isGateway":true,"ipam":{"type":"host-local","dataDir":"DIR/ipam","ranges":[[{"subnet":"10.66.0.0/24"}]]}}]}"#
        )
        defer { lab.stage.tearDown() }
        let netns = lab.stage.netns
        let list = lab.dir + "/net.d/10-net.conflist"
        #expect(try lab.run(["add", "ctnet", netns]).0 == 0)
        let (deleted, _, errors) = try LibcniInteropTests.drive(
            "del", list, host: lab.stage.host, netns: netns, containerID: lab.containerID(netns), cache: lab.cache)
        #expect(deleted == 0, "\(errors)")
        #expect(lab.cached.isEmpty && lab.reservations.isEmpty)
        let (added, _, addErrors) = try LibcniInteropTests.drive(
            "add", list, host: lab.stage.host, netns: netns, containerID: lab.containerID(netns), cache: lab.cache)
        #expect(added == 0, "\(addErrors)")
        #expect(lab.reservations.count == 1)
        #expect(try lab.run(["check", "ctnet", netns]).0 == 0)
        let (ours, _, ourErrors) = try lab.run(["del", "ctnet", netns])
        #expect(ours == 0, "\(ourErrors)")
        #expect(lab.cached.isEmpty && lab.reservations.isEmpty)
        #expect(try lab.stage.bed.linkNames(lab.stage.container) == ["lo"])
    }

    /// It runs any plugin: the reference's chain from /usr/lib/cni.
    @Test(.enabled(if: Testbed.referencePluginsInstalled, "needs the reference plugins"))
    func runsTheReferencesPlugins() throws {
        let lab = try Lab(
            conflist:
                #"{"cniVersion":"1.0.0","name":"ctnet","plugins":[{"type":"bridge","bridge":"ct0","isGateway":true,"ipam":{"type":"host-local","dataDir":"DIR/ipam","ranges":[[{"subnet":"10.66.0.0/24"}]]}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#
        )
        defer { lab.stage.tearDown() }
        let netns = lab.stage.netns
        let (added, output, errors) = try lab.run(
            ["add", "ctnet", netns], cniPath: "/usr/lib/cni", capabilities: Self.mappings)
        #expect(added == 0, "\(errors)")
        #expect(output.contains("10.66.0.2/24"))
        #expect(try lab.run(["del", "ctnet", netns], cniPath: "/usr/lib/cni").0 == 0)
        #expect(lab.reservations.isEmpty && lab.cached.isEmpty)
    }

    /// GC (cnitool passes no valid attachment): every cached attachment of the network is
    /// deleted with what its ADD was given; then each plugin's GC. STATUS asks each plugin.
    @Test func gcDeletesEveryCachedAttachmentAndStatusAsksThePlugins() throws {
        let lab = try Lab()
        defer { lab.stage.tearDown() }
        let other = try lab.stage.bed.namespace("c2")
        #expect(try lab.run(["add", "ctnet", lab.stage.netns], capabilities: Self.mappings).0 == 0)
        // -i and CNI_ARGS as cnitool takes them.
        let second = try lab.run(
            ["add", "ctnet", lab.stage.bed.path(other), "-i", "net1"], cniArgs: "IgnoreUnknown=1;FOO=bar")
        #expect(second.0 == 0, "\(second.2)")
        #expect(try lab.stage.bed.linkNames(other).sorted() == ["lo", "net1"])
        #expect(lab.reservations.count == 2 && lab.cached.count == 2)
        let (status, _, statusErrors) = try lab.run(["status", "ctnet", "/none"])
        #expect(status == 0, "\(statusErrors)")
        let (collected, _, errors) = try lab.run(["gc", "ctnet", "/none"])
        #expect(collected == 0, "\(errors)")
        #expect(lab.reservations.isEmpty && lab.cached.isEmpty)
        #expect(try lab.stage.bed.linkNames(other) == ["lo"])
    }

    /// A single plugin's .conf is a list of one (.conflist files are looked at first); mistakes
    /// are said plainly with exit status 1 (2 for the command line).
    @Test func aConfFileAndMistakes() throws {
        let lab = try Lab(
            conflist:
                #"{"cniVersion":"0.4.0","name":"ctnet","type":"bridge","bridge":"ct0","ipam":{"type":"host-local","dataDir":"DIR/ipam","ranges":[[{"subnet":"10.66.0.0/24"}]]}}"#,
            file: "20-single.conf")
        defer { lab.stage.tearDown() }
        let (added, output, errors) = try lab.run(["add", "ctnet", lab.stage.netns])
        #expect(added == 0 && output.contains("\"cniVersion\": \"0.4.0\""), "\(errors)")
        #expect(try lab.run(["del", "ctnet", lab.stage.netns]).0 == 0)
        let unknown = try lab.run(["add", "nosuch", lab.stage.netns])
        #expect(unknown.0 == 1 && unknown.2.contains("no net configuration with name \"nosuch\""), "\(unknown.2)")
        let short = try lab.run(["add", "ctnet"])
        #expect(short.0 == 2 && short.2.contains("usage: cnitool"), "\(short.2)")
        let badArgs = try lab.run(["add", "ctnet", lab.stage.netns], cniArgs: "A=1;B")
        #expect(badArgs.0 == 1 && badArgs.2.contains("invalid CNI_ARGS pair \"B\""), "\(badArgs.2)")
        let failing = try lab.run(["add", "ctnet", "/run/netns/does-not-exist"])
        #expect(failing.0 == 1 && failing.2.contains("plugin type=\"bridge\""), "\(failing.2)")
        #expect(lab.reservations.isEmpty)
    }
}
