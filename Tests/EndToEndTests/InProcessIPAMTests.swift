import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// In-process IPAM exactly when the host-local found on CNI_PATH is provably ours: proven by
/// tracing the plugin's execve(2) calls with strace.
@Suite(
    .enabled(
        if: access("/usr/bin/strace", X_OK) == 0 && Testbed.referencePluginsInstalled,
        "needs strace and the reference plugins (integration/install-deps.sh installs both)"))
struct InProcessIPAMTests {
    /// Runs macvlan ADD (then DEL) from `binDirectory` with CNI_PATH `cniPath` under strace;
    /// returns the ADD's outcome and the programs it exec'd after itself.
    static func tracedAdd(_ stage: PluginStage, binDirectory: String, cniPath: String, id: String) throws -> (
        PluginOutcome, [String]
    ) {
        let trace = stage.store.path + "/trace-\(id)"
        let config =
            #"{"cniVersion":"1.0.0","name":"inproc","type":"macvlan","master":"up0","ipam":{"type":"host-local","dataDir":"\#(stage.store.path)","ranges":[[{"subnet":"10.68.0.0/24"}]]}}"#
        let env = [
            "CNI_COMMAND=ADD", "CNI_CONTAINERID=\(id)", "CNI_NETNS=\(stage.netns)", "CNI_IFNAME=eth0",
            "CNI_PATH=\(cniPath)",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        let outcome = try ChildProcess.run(
            "/usr/sbin/ip",
            arguments: [
                "netns", "exec", stage.host, "/usr/bin/strace", "-f", "-qq",
                "-e", "trace=execve", "-o", trace, binDirectory + "/macvlan",
            ],
            environment: env, input: Array(config.utf8))
        let text = String(decoding: (try? FileIO.readFile(trace)) ?? [], as: UTF8.self)
        let execs = text.split(separator: "\n").compactMap { line -> String? in
            guard let start = line.firstRange(of: "execve(\"") else { return nil }
            let rest: Substring = line[start.upperBound...]
            return String(rest.prefix { $0 != "\"" })
        }
        _ = try stage.bed.plugin(
            "macvlan", "DEL", config: config, host: stage.host, containerID: id, netns: stage.netns,
            binDirectory: binDirectory, cniPath: cniPath)
        return (
            PluginOutcome(status: outcome.status, output: String(decoding: outcome.standardOutput, as: UTF8.self)),
            Array(execs.dropFirst())
        )
    }

    @Test func oursInProcessEvenThroughASymlinkedDirButAnotherImplementationExecd() throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        // Ours, from the build directory: in-process.
        let (own, ownExecs) = try Self.tracedAdd(
            stage, binDirectory: Testbed.binDirectory, cniPath: Testbed.binDirectory, id: "own")
        #expect(own.status == 0, "\(own.output)")
        #expect(!ownExecs.contains { $0.hasSuffix("/host-local") }, "our host-local was exec'd: \(ownExecs)")
        // Through a symlinked bin dir (distributions link /opt/cni/bin to /usr/lib/cni): in-process.
        let link = stage.store.path + "/linked-bin"
        #expect(symlink(Testbed.binDirectory, link) == 0)
        let (linked, linkedExecs) = try Self.tracedAdd(stage, binDirectory: link, cniPath: link, id: "linked")
        #expect(linked.status == 0, "\(linked.output)")
        #expect(
            !linkedExecs.contains { $0.hasSuffix("/host-local") }, "exec'd through the symlinked dir: \(linkedExecs)")
        // Our macvlan next to the reference's host-local: the reference's runs, exec'd.
        let mixed = stage.store.path + "/mixed-bin"
        try Testbed.run(["/bin/mkdir", mixed])
        try Testbed.run(["/bin/cp", Testbed.binDirectory + "/macvlan", mixed + "/macvlan"])
        try Testbed.run(["/bin/cp", "/usr/lib/cni/host-local", mixed + "/host-local"])
        let (other, otherExecs) = try Self.tracedAdd(stage, binDirectory: mixed, cniPath: mixed, id: "other")
        #expect(other.status == 0, "\(other.output)")
        #expect(
            otherExecs.contains(mixed + "/host-local"),
            "another implementation's host-local must be exec'd: \(otherExecs)")
    }
}
