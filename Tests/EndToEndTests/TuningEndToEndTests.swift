import JSON
import POSIX
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// tuning chained after bridge, as the built binaries in a test host namespace: sysctls of the
/// container's namespace, its interface's MAC, MTU, promiscuous and all-multicast modes and
/// queue length; the originals saved in upstream's file format and put back by DEL, ours or
/// the reference's (Debian v1.1.1).
@Suite(.serialized)
struct TuningEndToEndTests {
    struct Node {
        let stage: PluginStage
        var bed: Testbed { stage.bed }
        var data: String { stage.store.path + "/tuning" }

        init() throws { stage = try PluginStage() }

        func addBridge(_ id: String = "t1") throws -> JSONValue {
            let config =
                #"{"cniVersion":"1.0.0","name":"tunet","type":"bridge","bridge":"tb0","ipam":{"type":"host-local","dataDir":"\#(stage.store.path)/ipam","ranges":[[{"subnet":"10.55.0.0/24"}]]}}"#
            let outcome = try bed.plugin(
                "bridge", "ADD", config: config, host: stage.host, containerID: id, netns: stage.netns)
            #expect(outcome.status == 0, "\(outcome.output)")
            return try #require(outcome.json)
        }

        func config(_ keys: String, previous: JSONValue?) -> String {
            let prev = previous.map { #","prevResult":\#($0.serialized())"# } ?? ""
            return #"{"cniVersion":"1.0.0","name":"tunet","type":"tuning","dataDir":"\#(data)"\#(keys)\#(prev)}"#
        }

        func tuning(_ command: String, _ config: String, id: String = "t1", directory: String = Testbed.binDirectory)
            throws -> PluginOutcome
        {
            try bed.plugin(
                "tuning", command, config: config, host: stage.host, containerID: id, netns: stage.netns,
                binDirectory: directory, cniPath: directory)
        }

        /// eth0 in the container as `ip -d` shows it.
        func eth0() throws -> JSONValue? { try bed.ipJSON(stage.container, "link", "show", "eth0").arrayValue?.first }

        func sysctl(_ path: String) throws -> String {
            try Testbed.run(["/usr/sbin/ip", "netns", "exec", stage.container, "/bin/cat", "/proc/sys/" + path])
                .trimmingWhitespace
        }
    }

    @Test func everySettingAppliedCheckedAndPutBack() throws {
        let node = try Node()
        defer { node.stage.tearDown() }
        let previous = try node.addBridge()
        let before = try #require(try node.eth0())
        let keys =
            #","sysctl":{"net.ipv4.conf.IFNAME.arp_ignore":"1","net.core.somaxconn":"512"},"mac":"02:aa:bb:cc:dd:01","mtu":1400,"promisc":true,"allmulti":true,"txQLen":777"#
        let config = node.config(keys, previous: previous)
        let add = try node.tuning("ADD", config)
        #expect(add.status == 0, "\(add.output)")
        // The result is the previous one with eth0's new MAC.
        let interfaces = add.json?["interfaces"]?.arrayValue ?? []
        #expect(interfaces.first { $0["name"] == "eth0" }?["mac"] == "02:aa:bb:cc:dd:01", "\(add.output)")
        let after = try #require(try node.eth0())
        #expect(after["address"] == "02:aa:bb:cc:dd:01" && after["mtu"] == 1400 && after["txqlen"] == 777)
        let flags = after["flags"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(flags.contains("PROMISC") && flags.contains("ALLMULTI"), "\(flags)")
        #expect(try node.sysctl("net/ipv4/conf/eth0/arp_ignore") == "1")
        #expect(try node.sysctl("net/core/somaxconn") == "512")
        // Upstream's file: <dataDir>/<container>_<ifname>.json, the originals of what changed.
        let saved = try JSONValue.parse(try FileIO.readFile(node.data + "/t1_eth0.json"))
        #expect(saved["mac"] == before["address"] && saved["mtu"] == before["mtu"] && saved["promisc"] == false)
        #expect(saved["allmulti"] == false && saved["txQLen"] == before["txqlen"], "\(saved.serialized())")
        #expect(try node.tuning("CHECK", config).status == 0)
        try node.bed.ip(node.stage.container, "link", "set", "eth0", "mtu", "1300")
        let drift = try node.tuning("CHECK", config)
        #expect(drift.errorCode == 103 && drift.output.contains("MTU 1300"), "\(drift.output)")

        #expect(try node.tuning("DEL", config).status == 0)
        let restored = try #require(try node.eth0())
        #expect(restored["address"] == before["address"] && restored["mtu"] == before["mtu"])
        #expect(restored["txqlen"] == before["txqlen"])
        let restoredFlags = restored["flags"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(!restoredFlags.contains("PROMISC") && !restoredFlags.contains("ALLMULTI"))
        #expect(access(node.data + "/t1_eth0.json", F_OK) != 0, "the saved file is removed")
        #expect(try node.tuning("DEL", config).status == 0, "DEL again")
    }

    /// Without keys: the previous result, converted, and nothing touched.
    @Test func withoutKeysThePreviousResultPassesThrough() throws {
        let node = try Node()
        defer { node.stage.tearDown() }
        let previous = try node.addBridge()
        let add = try node.tuning("ADD", node.config("", previous: previous))
        #expect(add.status == 0 && add.json == previous, "\(add.output)")
        #expect(access(node.data, F_OK) != 0)
    }

    /// Only net.* keys of the container's namespace; every mistake is code 7 naming it, and
    /// nothing is written, not even the keys before it.
    @Test func badKeysAndValuesChangeNothing() throws {
        let node = try Node()
        defer { node.stage.tearDown() }
        let previous = try node.addBridge()
        let somaxconn = try node.sysctl("net/core/somaxconn")
        for (keys, named) in [
            (#","sysctl":{"net.core.somaxconn":"77","kernel.hostname":"x"}"#, "kernel.hostname"),
            (#","sysctl":{"net.core.somaxconn":"77","net/../kernel/hostname":"x"}"#, "net/../kernel/hostname"),
            (#","sysctl":{"net.core.somaxconn":"77","net..core":"x"}"#, "net..core"),
            (#","sysctl":{"net.core.somaxconn":"7\n7"}"#, "sysctl.net.core.somaxconn"),
            (#","mac":"nope""#, "mac"), (#","mtu":-1"#, "mtu"), (#","mtu":70000"#, "mtu"),
            (#","txQLen":"x""#, "txQLen"),
            (#","promisc":"yes""#, "promisc"),
        ] {
            let outcome = try node.tuning("ADD", node.config(keys, previous: previous))
            #expect(outcome.errorCode == 7 && outcome.output.contains(named), "\(named): \(outcome.output)")
        }
        #expect(try node.sysctl("net/core/somaxconn") == somaxconn)
        #expect(access(node.data, F_OK) != 0)
    }

    /// Multus's chain through libcni: macvlan with a static address, then tuning with the
    /// `mac` capability and a sysctl; the MAC the runtime asks for is on the interface and in
    /// the result libcni caches; CHECK; DEL.
    @Test func macvlanThenTuningThroughLibcni() throws {
        let node = try Node()
        defer { node.stage.tearDown() }
        let list = node.stage.store.path + "/net.conflist"
        node.stage.store.write(
            "net.conflist",
            #"{"cniVersion":"1.0.0","name":"tunet","plugins":[{"type":"macvlan","master":"up0","ipam":{"type":"static","addresses":[{"address":"10.56.0.9/24"}]}},{"type":"tuning","dataDir":"\#(node.data)","capabilities":{"mac":true},"sysctl":{"net.ipv4.conf.IFNAME.arp_announce":"2"}}]}"#
        )
        let cache = node.stage.store.path + "/cache"
        let capabilities = #"{"mac":"02:11:22:33:44:55"}"#
        let (added, output, errors) = try LibcniInteropTests.drive(
            "add", list, host: node.stage.host, netns: node.stage.netns, containerID: "m1", cache: cache,
            capabilities: capabilities)
        #expect(added == 0, "\(errors)")
        #expect(try node.eth0()?["address"] == "02:11:22:33:44:55")
        #expect(output.contains("02:11:22:33:44:55"), "\(output)")
        #expect(try node.sysctl("net/ipv4/conf/eth0/arp_announce") == "2")
        let (checked, _, checkErrors) = try LibcniInteropTests.drive(
            "check", list, host: node.stage.host, netns: node.stage.netns, containerID: "m1", cache: cache,
            capabilities: capabilities)
        #expect(checked == 0, "\(checkErrors)")
        let (deleted, _, deleteErrors) = try LibcniInteropTests.drive(
            "del", list, host: node.stage.host, netns: node.stage.netns, containerID: "m1", cache: cache,
            capabilities: capabilities)
        #expect(deleted == 0, "\(deleteErrors)")
        #expect(try node.bed.linkNames(node.stage.container) == ["lo"])
        #expect(access(node.data + "/m1_eth0.json", F_OK) != 0)
    }

    /// Either implementation puts back what the other changed (upstream's saved file).
    @Test(.enabled(if: Testbed.referencePluginsInstalled, "needs the reference plugins"))
    func eachRestoresWhatTheOtherChanged() throws {
        let node = try Node()
        defer { node.stage.tearDown() }
        let previous = try node.addBridge()
        let before = try #require(try node.eth0())
        let config = node.config(#","mac":"02:aa:bb:cc:dd:02","mtu":1280,"promisc":true"#, previous: previous)
        for (adder, deleter) in [("/usr/lib/cni", Testbed.binDirectory), (Testbed.binDirectory, "/usr/lib/cni")] {
            let add = try node.tuning("ADD", config, directory: adder)
            #expect(add.status == 0, "\(adder): \(add.output)")
            #expect(try node.eth0()?["mtu"] == 1280)
            let delete = try node.tuning("DEL", config, directory: deleter)
            #expect(delete.status == 0, "\(deleter): \(delete.output)")
            let after = try #require(try node.eth0())
            #expect(after["address"] == before["address"] && after["mtu"] == before["mtu"], "\(adder) -> \(deleter)")
            #expect(!(after["flags"]?.arrayValue?.contains("PROMISC") ?? true))
        }
    }
}
