import POSIX
import ProcessRunner
import TestSupport
import Testing

/// An ADD whose result cannot be written (stdout closed by the runtime, or a device that
/// refuses the bytes) must fail and leave nothing: the runtime can never learn what was made,
/// so it would never DEL it.
@Suite struct UndeliverableResultTests {
    static let plugins = ["macvlan", "bridge", "host-local"]

    func config(_ plugin: String, store: String) -> String {
        let ipam = #""ipam":{"type":"host-local","dataDir":"\#(store)","ranges":[[{"subnet":"10.66.0.0/24"}]]}"#
        switch plugin {
        case "macvlan": return #"{"cniVersion":"1.0.0","name":"undel","type":"macvlan","master":"up0",\#(ipam)}"#
        case "bridge": return #"{"cniVersion":"1.0.0","name":"undel","type":"bridge","bridge":"ubr0",\#(ipam)}"#
        default: return #"{"cniVersion":"1.0.0","name":"undel","type":"host-local",\#(ipam)}"#
        }
    }

    @Test(arguments: [">&-", ">/dev/full"], plugins)
    func anAddWhoseResultCannotBeWrittenLeavesNothing(_ redirection: String, _ plugin: String) throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let configFile = stage.store.path + "/config.json"
        stage.store.write("config.json", config(plugin, store: stage.store.path))
        let outcome = try ChildProcess.run(
            "/usr/sbin/ip",
            arguments: [
                "netns", "exec", stage.host, "/bin/sh", "-c", #"exec "$0" < "$1" \#(redirection)"#,
                Testbed.binDirectory + "/" + plugin, configFile,
            ],
            environment: [
                "CNI_COMMAND=ADD", "CNI_CONTAINERID=undel1", "CNI_NETNS=\(stage.netns)", "CNI_IFNAME=eth0",
                "CNI_PATH=\(Testbed.binDirectory)", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            ],
            captureStandardError: true)
        let errors = String(decoding: outcome.standardError, as: UTF8.self)
        #expect(outcome.status != 0, "\(plugin) ADD \(redirection) exited 0")
        #expect(errors.contains("\"code\": 5") || errors.contains("stdout"), "the error names stdout: \(errors)")
        #expect(
            stage.store.files("undel").filter { $0.hasPrefix("10.66.") }.isEmpty,
            "a reservation was left: \(stage.store.files("undel"))")
        #expect(try stage.bed.linkNames(stage.container) == ["lo"], "a link was left in the container")
        #expect(
            try stage.bed.linkNames(stage.host).filter { $0.hasPrefix("veth") }.isEmpty, "a veth was left on the host")
        if redirection == ">&-" {
            // Closed from the start: refused before anything is made (not even the bridge,
            // which a DEL keeps).
            #expect(errors.contains("stdout is closed"), "\(errors)")
            #expect(try !stage.bed.linkNames(stage.host).contains("ubr0"), "the bridge was made")
        }
    }

    /// A result the config's version cannot hold whole (cniVersion 0.2.0 has one IPv4 address;
    /// static gives two) fails with code 1 instead of reporting one of them, and the macvlan
    /// made for it is undone.
    @Test(arguments: ["static", "macvlan"])
    func aResultTheVersionCannotHoldFailsAndLeavesNothing(_ plugin: String) throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let ipam =
            #""ipam":{"type":"static","addresses":[{"address":"10.67.0.2/24"},{"address":"10.67.0.3/24"}]}"#
        let config = #"{"cniVersion":"0.2.0","name":"legacy","type":"\#(plugin)","master":"up0",\#(ipam)}"#
        let outcome = try stage.bed.plugin(
            plugin, "ADD", config: config, host: stage.host, containerID: "legacy1", netns: stage.netns)
        #expect(outcome.errorCode == 1, "\(outcome.output)")
        #expect(outcome.output.contains("10.67.0.3/24"), "the error names what would be dropped: \(outcome.output)")
        #expect(try stage.bed.linkNames(stage.container) == ["lo"], "a link was left in the container")
    }
}
