import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A runtime that gives up on an ADD kills it (SIGKILL, no chance to roll back) and then calls
/// DEL. Whatever point the kill hits, that DEL must leave nothing: no link in the container
/// (under CNI_IFNAME or a temporary name), no host veth, no reservation or index file, no
/// firewall table naming the attachment. Kill points are drawn from a seeded generator (the
/// seed is printed) between 0 and 1.3x the time one ADD takes.
@Suite struct KilledAddTests {
    static let runs = 100

    @Test(arguments: [
        (
            "macvlan",
            #"{"cniVersion":"1.1.0","name":"kill","type":"macvlan","master":"up0","ipam":{"type":"host-local","dataDir":"STORE","ranges":[[{"subnet":"10.80.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}"#,
            false
        ),
        (
            "bridge",
            #"{"cniVersion":"1.1.0","name":"kill","type":"bridge","bridge":"kb0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","dataDir":"STORE","ranges":[[{"subnet":"10.81.0.0/24"}]]}}"#,
            true
        ),
    ])
    func deleteAfterAKilledAddLeavesNothing(_ plugin: String, _ template: String, _ masquerades: Bool) throws {
        try run(plugin, template, masquerades, environment: [])
    }

    /// The same with host-local exec'd (debug builds' SWIFT_CNI_IPAM_EXEC): a kill can orphan
    /// the host-local child mid-reservation; the DEL waits for it through the attachment lock
    /// the child inherited, then releases what it reserved.
    @Test(.enabled(if: Testbed.binariesHaveTestHooks, "needs the debug builds' switch that forces exec'd IPAM"))
    func deleteAfterAKilledAddWithExecdIPAMLeavesNothing() throws {
        try run(
            "macvlan",
            #"{"cniVersion":"1.1.0","name":"kill","type":"macvlan","master":"up0","ipam":{"type":"host-local","dataDir":"STORE","ranges":[[{"subnet":"10.82.0.0/24"}]]}}"#,
            false, environment: ["SWIFT_CNI_IPAM_EXEC=1"])
    }

    /// The orphan race, made certain: a slow IPAM child (a script on CNI_PATH that takes 0.6 s
    /// to "reserve", writing a marker file) is orphaned by killing the plugin; the runtime's DEL
    /// must wait for it and then undo its reservation. Without the attachment lock the child's
    /// inherited descriptor holds, DEL would run first and the marker would stay for ever.
    @Test func deleteWaitsForAnOrphanedIPAMChild() throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let bin = stage.store.path + "/bin"
        let markers = stage.store.path + "/reserved"
        try Testbed.run(["/bin/mkdir", "-p", bin, markers])
        try Testbed.run(["/bin/ln", "-s", Testbed.binDirectory + "/macvlan", bin + "/macvlan"])
        stage.store.write(
            "bin/slowipam",
            """
            #!/bin/sh
            case "$CNI_COMMAND" in
              ADD) sleep 0.6; : > "\(markers)/$CNI_CONTAINERID"
                   echo '{"cniVersion":"1.0.0","ips":[{"address":"10.83.0.5/24"}]}' ;;
              DEL) rm -f "\(markers)/$CNI_CONTAINERID" ;;
            esac

            """)
        try Testbed.run(["/bin/chmod", "755", bin + "/slowipam"])
        let config =
            #"{"cniVersion":"1.0.0","name":"orphan","type":"macvlan","master":"up0","ipam":{"type":"slowipam"}}"#
        stage.store.write("config.json", config)
        let env = [
            "CNI_COMMAND=ADD", "CNI_CONTAINERID=orphan1", "CNI_NETNS=\(stage.netns)", "CNI_IFNAME=eth0",
            "CNI_PATH=\(bin)",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        let pid = try ChildProcess.spawn(
            "/usr/sbin/ip",
            arguments: [
                "netns", "exec", stage.host, "/bin/sh", "-c", #"exec "$0" < "$1""#,
                bin + "/macvlan", stage.store.path + "/config.json",
            ],
            environment: env, logFile: stage.store.path + "/add.log")
        usleep(250_000)  // the IPAM child is sleeping now
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let del = try stage.bed.plugin(
            "macvlan", "DEL", config: config, host: stage.host, containerID: "orphan1", netns: stage.netns,
            binDirectory: bin, cniPath: bin)
        #expect(del.status == 0, "\(del.output)")
        usleep(800_000)  // long enough for an orphan that DEL did not wait for to finish
        #expect(
            stage.store.files("reserved").isEmpty,
            "the orphaned IPAM child reserved after the DEL: \(stage.store.files("reserved"))")
        #expect(try stage.bed.linkNames(stage.container) == ["lo"])
    }

    func run(_ plugin: String, _ template: String, _ masquerades: Bool, environment: [String]) throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let (bed, store, host, container) = (stage.bed, stage.store, stage.host, stage.container)
        let config = template.replacingFirst("STORE", with: store.path)
        store.write("config.json", config)
        let hostLinksBefore = try bed.linkNames(host)

        // One whole ADD and DEL first, to learn how long an ADD takes here.
        let start = MonotonicClock.seconds
        var extra: [String: String] = [:]
        for entry in environment {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { extra[parts[0]] = parts[1] }
        }
        let first = try bed.plugin(
            plugin, "ADD", config: config, host: host, containerID: "k0", netns: bed.path(container), environment: extra
        )
        let addSeconds = MonotonicClock.seconds - start
        #expect(first.status == 0, "\(first.output)")
        _ = try bed.plugin(plugin, "DEL", config: config, host: host, containerID: "k0", netns: bed.path(container))

        let seed = UInt64(MonotonicClock.nanoseconds)
        var generator = SeededGenerator(seed: seed)
        FileIO.writeAll(
            .standardError, "killed ADD (\(plugin)): seed \(seed), one ADD takes \(Int(addSeconds * 1000)) ms\n")
        var completed = 0
        for run in 1...Self.runs {
            let id = "k\(run)"
            let delay = Double.random(in: 0...(addSeconds * 1.3), using: &generator)
            let pid = try bed.spawnPlugin(
                plugin, "ADD", configFile: store.path + "/config.json", host: host, containerID: id,
                netns: bed.path(container), logFile: store.path + "/add.log", environment: environment)
            usleep(UInt32(delay * 1_000_000))
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            if status & 0x7f == 0 { completed += 1 }
            let del = try bed.plugin(
                plugin, "DEL", config: config, host: host, containerID: id, netns: bed.path(container),
                environment: extra)
            let context = "\(plugin) run \(run) (seed \(seed), killed after \(Int(delay * 1000)) ms)"
            #expect(del.status == 0, "\(context): DEL failed: \(del.output)")
            let containerLinks = try bed.linkNames(container)
            #expect(containerLinks == ["lo"], "\(context): left in the container: \(containerLinks)")
            let hostLinks = try bed.linkNames(host).filter { !hostLinksBefore.contains($0) && $0 != "kb0" }
            #expect(hostLinks.isEmpty, "\(context): left in the host: \(hostLinks)")
            let reserved = store.files("kill").filter { $0 != "lock" && !$0.hasPrefix("last_reserved_ip") }
            #expect(reserved.isEmpty, "\(context): reservations left: \(reserved)")
            let index = store.indexEntries("kill")
            #expect(index.isEmpty, "\(context): index files left: \(index)")
            if masquerades {
                let tag = AttachmentTagText.attachment(network: "kill", containerID: id, ifName: "eth0")
                let ruleset = try Testbed.run([
                    "/usr/sbin/ip", "netns", "exec", host, "/usr/sbin/nft", "list", "ruleset",
                ])
                #expect(!ruleset.contains(tag), "\(context): firewall objects left:\n\(ruleset)")
            }
            if containerLinks != ["lo"] || !reserved.isEmpty { break }
        }
        FileIO.writeAll(
            .standardError,
            "killed ADD (\(plugin)): \(Self.runs) runs, \(Self.runs - completed) of them killed before they finished\n")
        #expect(completed < Self.runs, "no ADD was killed half-way: the test did not exercise anything")
    }
}

/// The 12 hex digits that name an attachment's firewall objects (FNV-1a 64 of network,
/// container id and interface), computed here independently of the Firewall module.
enum AttachmentTagText {
    /// The 8 hex digits that name the network (FNV-1a 64 of its name).
    static func networkPrefix(_ network: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in Array(network.utf8) { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let text = String(hash, radix: 16)
        return String((String(repeating: "0", count: 16 - text.count) + text).suffix(8))
    }

    static func attachment(network: String, containerID: String, ifName: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in Array(network.utf8) + [0] + Array(containerID.utf8) + [0] + Array(ifName.utf8) {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        let text = String(hash, radix: 16)
        return String((String(repeating: "0", count: 16 - text.count) + text).suffix(12))
    }
}
