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
/// peer goes with it), seen with `strace -f` on the built binary as a runtime runs it. It is
/// sent by the worker process that waits out the kernel's release of the link
/// (`deleteLinkWithoutWaitingForRelease`), not by the plugin's own process.
@Suite(.serialized)
struct DeleteCountTests {
    /// The RTM_DELLINK requests (type 17) of one traced call, and how many of them the
    /// plugin's own process sent (strace -f starts each line with the sender's pid; the
    /// plugin's is the first line's: its RTM_GETLINK).
    static func linkDeletes(
        _ stage: PluginStage, _ plugin: String, _ config: String, containerID: String
    ) throws -> (all: Int, byThePlugin: Int) {
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
        let lines = trace.split(separator: "\n")
        let pluginPID = lines.first?.split(separator: " ").first
        let deletes = lines.filter { $0.contains("nlmsg_type=RTM_DELLINK") || $0.contains("nlmsg_type=0x11 ") }
        return (deletes.count, deletes.filter { $0.split(separator: " ").first == pluginPID }.count)
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
        let deletes = try Self.linkDeletes(stage, plugin, config, containerID: "d1")
        #expect(deletes.all == 1 && deletes.byThePlugin == 0, "\(deletes)")
        #expect(try stage.bed.linkNames(stage.container) == ["lo"])
    }
}
