import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The firewall plugin's firewalld backend against Debian's firewalld, run inside the VM
/// (never on this machine): the tree integration/fetch-firewalld.sh unpacked is copied into
/// the VM's throw-away root, a system bus (dbus-daemon, polkitd activated by it) starts, and
/// firewalld manages a host namespace of the test's. Started by `VMSuiteTests`.
@Suite(.serialized, .enabled(if: Testbed.insideVM, "runs inside integration/vm-run.sh; started by VMSuiteTests"))
struct FirewalldVMTests {
    static let tree =
        getenv("SWIFT_CNI_FIREWALLD_ROOT").map { String(cString: $0) } ?? "/var/tmp/swift-cni-firewalld/root"

    /// Installs firewalld into the VM's root and starts the system bus, once per VM.
    static func prepareTheVM() throws {
        let cmdline = String(decoding: try FileIO.readFile("/proc/cmdline", limit: 65536), as: UTF8.self)
        try #require(cmdline.contains("vmrun.cmd="), "firewalld is installed only inside the VM runner's root")
        try #require(
            access(tree + "/usr/sbin/firewalld", X_OK) == 0,
            "no firewalld at \(tree): run integration/fetch-firewalld.sh (integration/install-deps.sh does)")
        if access("/run/dbus/system_bus_socket", F_OK) == 0 { return }
        try Testbed.run(["/bin/cp", "-a", tree + "/etc", tree + "/usr", "/"])
        // What Debian's postinst picks with update-alternatives: the server policy for polkit.
        try Testbed.run([
            "/bin/ln", "-sf", "org.fedoraproject.FirewallD1.server.policy.choice",
            "/usr/share/polkit-1/actions/org.fedoraproject.FirewallD1.policy",
        ])
        // The VM's kernel loads no module on demand: load netfilter's (some fail; fine).
        _ = try ChildProcess.run(
            "/bin/sh",
            arguments: [
                "-c",
                #"modprobe -a $(find /lib/modules/$(uname -r)/kernel/net \( -name 'nft_*' -o -name 'nf_*' \) -printf '%f\n' | sed 's/\.ko.*//')"#,
            ], environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], captureStandardError: true)
        try Testbed.run(["/bin/mkdir", "-p", "/run/dbus"])
        try Testbed.run(["/usr/bin/dbus-daemon", "--system", "--fork"])
        for _ in 0..<200 where access("/run/dbus/system_bus_socket", F_OK) != 0 { usleep(50_000) }
    }

    final class Node {
        let stage: PluginStage
        var bed: Testbed { stage.bed }
        var host: String { stage.host }
        var firewalld: pid_t?
        var listener: pid_t?
        var previous: JSONValue = .null

        init() throws {
            try FirewalldVMTests.prepareTheVM()
            stage = try PluginStage()
            let config =
                #"{"cniVersion":"1.0.0","name":"fwd","type":"bridge","bridge":"fwd0","isGateway":true,"ipam":{"type":"host-local","dataDir":"\#(stage.store.path)/ipam","ranges":[[{"subnet":"10.58.0.0/24"}]]}}"#
            let add = try bed.plugin("bridge", "ADD", config: config, host: host, containerID: "w1", netns: stage.netns)
            #expect(add.status == 0, "\(add.output)")
            previous = try #require(add.json)
        }

        deinit {
            if let listener { ChildProcess.stop(listener) }
            if let firewalld { ChildProcess.stop(firewalld, grace: 20) }
            stage.tearDown()
        }

        /// firewalld in the host namespace, waited for until STATUS of the firewalld backend says
        /// it answers (its Python start takes 10-30 s under the VM's emulation).
        func startFirewalld() throws {
            firewalld = try ChildProcess.spawn(
                "/usr/sbin/ip", arguments: ["netns", "exec", host, "/usr/sbin/firewalld", "--nofork", "--nopid"],
                environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], logFile: stage.store.path + "/firewalld.log")
            for _ in 0..<360 {
                if try firewall("STATUS", extra: #","backend":"firewalld""#, version: "1.1.0").status == 0 { return }
                usleep(500_000)
            }
            Issue.record("firewalld did not start: \(stage.store.read("firewalld.log") ?? "")")
        }

        /// A TCP service on the host side of the bridge (the container's gateway, 10.58.0.1:8080),
        /// waited for from the host namespace itself.
        func startListener() throws {
            listener = try ChildProcess.spawn(
                "/usr/sbin/ip",
                arguments: [
                    "netns", "exec", host, "/usr/bin/python3", "-m", "http.server", "8080", "--bind", "10.58.0.1",
                ],
                environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], logFile: stage.store.path + "/listener.log")
            for _ in 0..<120 where !(try connects(from: host)) { usleep(250_000) }
        }

        /// A TCP connection from `namespace` to the host's service opens within 5 s.
        func connects(from namespace: String) throws -> Bool {
            try bed.exec(
                namespace, "/usr/bin/python3", "-c",
                "import socket; socket.create_connection(('10.58.0.1', 8080), timeout=5).close()") == 0
        }

        func firewall(_ command: String, extra: String = "", version: String = "1.0.0", id: String = "w1")
            throws -> PluginOutcome
        {
            let prev = command == "STATUS" ? "" : #","prevResult":\#(previous.serialized())"#
            let config = #"{"cniVersion":"\#(version)","name":"fwdnet","type":"firewall"\#(extra)\#(prev)}"#
            return try bed.plugin("firewall", command, config: config, host: host, containerID: id, netns: stage.netns)
        }

        /// The sources of a zone, as firewalld's own client lists them.
        func sources(_ zone: String) throws -> [Substring] {
            try Testbed.run(["/usr/bin/firewall-cmd", "--zone=\(zone)", "--list-sources"]).split(
                whereSeparator: \.isWhitespace)
        }
    }

    /// ADD makes the container's address a source of the trusted zone, so firewalld (whose
    /// default zone, public, rejects new connections to the host) lets it reach the host's
    /// service; ADD again is fine (ZONE_ALREADY_SET); CHECK compares; DEL takes it back, and
    /// DEL again succeeds; with no `backend`, the running firewalld is chosen; `firewalldZone`
    /// picks the zone, and a source bound to another zone is an error naming the conflict;
    /// STATUS is 50 and DEL still succeeds once firewalld is gone.
    @Test(.timeLimit(.minutes(10))) func containersBecomeSourcesOfTheZone() throws {
        let node = try Node()
        try node.startFirewalld()
        try node.startListener()
        let container = node.stage.container
        #expect(!(try node.connects(from: container)), "public zone: the container is rejected before ADD")

        let add = try node.firewall("ADD", extra: #","backend":"firewalld""#)
        #expect(add.status == 0 && add.json == node.previous, "\(add.output)")
        #expect(try node.sources("trusted").contains("10.58.0.2/32"))
        #expect(try node.connects(from: container), "trusted zone: the container reaches the host")
        #expect(try node.firewall("ADD", extra: #","backend":"firewalld""#).status == 0, "ADD again")
        #expect(try node.firewall("CHECK", extra: #","backend":"firewalld""#).status == 0)

        // A source already bound to another zone: firewalld's ZONE_CONFLICT, named.
        let conflict = try node.firewall("ADD", extra: #","backend":"firewalld","firewalldZone":"internal""#)
        #expect(conflict.status != 0 && conflict.output.contains("ZONE_CONFLICT"), "\(conflict.output)")

        #expect(try node.firewall("DEL", extra: #","backend":"firewalld""#).status == 0)
        #expect(!(try node.sources("trusted")).contains("10.58.0.2/32"))
        #expect(!(try node.connects(from: container)), "rejected again after DEL")
        let check = try node.firewall("CHECK", extra: #","backend":"firewalld""#)
        #expect(check.errorCode == 103 && check.output.contains("10.58.0.2/32"), "\(check.output)")
        #expect(try node.firewall("DEL", extra: #","backend":"firewalld""#).status == 0, "DEL again")

        // No backend named: firewalld runs, so it is the one (upstream's rule), in the zone asked.
        #expect(try node.firewall("ADD", extra: #","firewalldZone":"internal""#).status == 0)
        #expect(try node.sources("internal").contains("10.58.0.2/32"))
        #expect(!(try node.sources("trusted")).contains("10.58.0.2/32"))
        #expect(
            !(try Testbed.run(["/usr/sbin/ip", "netns", "exec", node.host, "/usr/sbin/iptables-save"])).contains(
                "CNI-FORWARD"), "no iptables rule when firewalld is the backend")
        #expect(try node.firewall("DEL", extra: #","firewalldZone":"internal""#).status == 0)
        #expect(!(try node.sources("internal")).contains("10.58.0.2/32"))

        // firewalld stopped: STATUS 50 naming it; DEL has nothing to take back and succeeds.
        #expect(try node.firewall("ADD", extra: #","backend":"firewalld""#).status == 0)
        if let pid = node.firewalld { ChildProcess.stop(pid, grace: 20) }
        node.firewalld = nil
        let status = try node.firewall("STATUS", extra: #","backend":"firewalld""#, version: "1.1.0")
        #expect(status.errorCode == 50 && status.output.contains("firewalld"), "\(status.output)")
        #expect(try node.firewall("DEL", extra: #","backend":"firewalld""#).status == 0)
    }
}
