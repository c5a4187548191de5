import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A DEL's cost is the kernel's link delete (its RCU wait is most of a DEL's time), so a DEL
/// asks for exactly one: one RTM_DELLINK for macvlan's link and for bridge's veth pair (the
/// peer goes with it), seen with `strace` on the built binary as a runtime runs it.
@Suite(.serialized)
struct DeleteCountTests {
    /// The RTM_DELLINK requests (type 17) of one traced call.
    static func linkDeletes(
        _ stage: PluginStage, _ plugin: String, _ config: String, containerID: String
    ) throws -> Int {
        let log = stage.store.path + "/strace-\(plugin).log"
        let run = try ChildProcess.run(
            "/usr/sbin/ip",
            arguments: [
                "netns", "exec", stage.host, "/usr/bin/strace", "-f", "-qq", "-e", "trace=sendto,sendmsg", "-o", log,
                Testbed.binDirectory + "/" + plugin,
            ],
            environment: [
                "CNI_COMMAND=DEL", "CNI_CONTAINERID=\(containerID)", "CNI_NETNS=\(stage.netns)", "CNI_IFNAME=eth0",
                "CNI_PATH=\(Testbed.binDirectory)", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            ],
            input: Array(config.utf8))
        #expect(run.status == 0, "\(String(decoding: run.standardOutput, as: UTF8.self))")
        let trace = String(decoding: try FileIO.readFile(log, limit: 1 << 20), as: UTF8.self)
        return trace.split(separator: "\n").filter {
            $0.contains("nlmsg_type=RTM_DELLINK") || $0.contains("nlmsg_type=0x11 ")
        }.count
    }

    @Test(arguments: ["macvlan", "bridge"])
    func aDelDeletesExactlyOneLink(_ plugin: String) throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let specific = plugin == "macvlan" ? #""master":"up0""# : #""bridge":"dc0","isGateway":true"#
        let config =
            #"{"cniVersion":"1.0.0","name":"dcnet","type":"\#(plugin)",\#(specific),"ipam":{"type":"host-local","dataDir":"\#(stage.store.path)/ipam","ranges":[[{"subnet":"10.74.0.0/24"}]]}}"#
        let added = try stage.bed.plugin(
            plugin, "ADD", config: config, host: stage.host, containerID: "d1", netns: stage.netns)
        #expect(added.status == 0, "\(added.output)")
        #expect(try Self.linkDeletes(stage, plugin, config, containerID: "d1") == 1)
        #expect(try stage.bed.linkNames(stage.container) == ["lo"])
    }
}
