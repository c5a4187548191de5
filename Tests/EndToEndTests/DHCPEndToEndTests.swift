import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A DHCP setup of a test's own: a 'host' namespace with uplink `up0`, a 'lan' namespace on
/// its peer running dnsmasq (10.77.0.1, leases 10.77.0.150-199), our `dhcp daemon` in the host
/// namespace on a socket in a temporary directory. Everything is stopped and removed after.
final class DHCPLab {
    let bed: Testbed
    let host: String
    let lan: String
    let dir: TemporaryDirectory
    private(set) var dnsmasq: pid_t?
    private(set) var daemon: pid_t?
    var socketPath: String { dir.path + "/dhcp.sock" }
    var leaseFile: String { dir.path + "/dnsmasq.leases" }

    /// Extra `dhcp daemon` flags, and a command the daemon runs under (`prlimit --nofile=...`).
    let daemonArguments: [String]
    let daemonWrapper: [String]

    init(
        _ bed: Testbed, server: Bool = true, dnsmasqOptions: [String] = [], daemonArguments: [String] = [],
        daemonWrapper: [String] = [], uplink: String = "up0"
    ) throws {
        self.daemonArguments = daemonArguments
        self.daemonWrapper = daemonWrapper
        self.bed = bed
        dir = try TemporaryDirectory()
        host = try bed.namespace("h")
        lan = try bed.namespace("lan")
        try bed.ip(host, "link", "add", uplink, "type", "veth", "peer", "name", "up0p", "netns", lan)
        try bed.ip(host, "link", "set", uplink, "up")
        try bed.ip(lan, "addr", "add", "10.77.0.1/24", "dev", "up0p")
        try bed.ip(lan, "link", "set", "up0p", "up")
        if server { try startDnsmasq(dnsmasqOptions) }
        try startDaemon()
    }

    func restartDnsmasq(_ options: [String], range: String) throws {
        if let dnsmasq { ChildProcess.stop(dnsmasq) }
        dnsmasq = nil
        unlink(dir.path + "/dnsmasq.log")
        try startDnsmasq(options, range: range)
    }

    func startDnsmasq(_ options: [String], range: String = "10.77.0.150,10.77.0.199") throws {
        dnsmasq = try ChildProcess.spawn(
            "/usr/sbin/ip",
            arguments: [
                "netns", "exec", lan, "/usr/sbin/dnsmasq", "--keep-in-foreground",
                "--conf-file=/dev/null", "--port=0", "--interface=up0p", "--bind-interfaces", "--except-interface=lo",
                "--dhcp-range=\(range),255.255.255.0,2m", "--dhcp-option=option:router,10.77.0.1",
                "--dhcp-option=option:dns-server,10.77.0.53", "--dhcp-option=option:domain-search,corp.example",
                "--dhcp-leasefile=\(leaseFile)", "--pid-file=", "--user=root", "--no-ping", "--dhcp-authoritative",
                "--log-dhcp", "--log-facility=\(dir.path)/dnsmasq.log",
            ] + options,
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], logFile: dir.path + "/dnsmasq.out")
        try waitFor("dnsmasq to listen") {
            (try? String(contentsOfProcFile: self.dir.path + "/dnsmasq.log"))?.contains("DHCP, IP range") == true
        }
    }

    func startDaemon() throws {
        daemon = try ChildProcess.spawn(
            "/usr/sbin/ip",
            arguments: ["netns", "exec", host] + daemonWrapper + [
                Testbed.binDirectory + "/dhcp", "daemon",
                "-socketpath", socketPath, "-statedir", dir.path + "/state", "-timeout", "3s",
            ]
                + daemonArguments.map { $0 == "HOSTDIR" ? dir.path : $0 },
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], logFile: dir.path + "/daemon.log")
        try waitFor("the daemon's socket") { access(self.socketPath, F_OK) == 0 }
    }

    func stopDaemon() {
        if let daemon { ChildProcess.stop(daemon) }
        daemon = nil
    }

    func tearDown() {
        stopDaemon()
        if let dnsmasq { ChildProcess.stop(dnsmasq) }
        dnsmasq = nil
        bed.tearDown()
        dir.remove()
    }

    /// Polls `condition` every 50 ms for up to `seconds`; throws when it never holds.
    func waitFor(_ what: String, seconds: Double = 10, _ condition: () -> Bool) throws {
        for _ in 0..<Int(seconds * 20) {
            if condition() { return }
            usleep(50_000)
        }
        throw TestbedError(description: "timed out waiting for \(what)")
    }

    func log(_ name: String) -> String { (try? String(contentsOfProcFile: dir.path + "/" + name)) ?? "" }

    /// dnsmasq's lease file as it stands between two of its writes. dnsmasq rewrites the file in
    /// place (truncate, print every lease, flush), so one read can land inside a rewrite and see
    /// it empty or cut short; this reads until two reads 20 ms apart agree (for up to 5 s).
    func leases() -> String {
        var last = log("dnsmasq.leases")
        for _ in 0..<250 {
            usleep(20_000)
            let now = log("dnsmasq.leases")
            if now == last { return now }
            last = now
        }
        return last
    }

    /// CHECK of `plugin` for container `containerID` with `config` and the ADD's result as
    /// prevResult.
    func check(
        _ config: String, prevResult: JSONValue?, containerID: String, netns: String, plugin: String = "macvlan"
    ) throws -> (status: Int32, output: String) {
        var object = (try? JSONValue.parse(config).objectValue) ?? JSONObject()
        object["prevResult"] = prevResult
        let outcome = try bed.plugin(
            plugin, "CHECK", config: JSONValue.object(object).serialized(), host: host, containerID: containerID,
            netns: bed.path(netns))
        return (outcome.status, outcome.output)
    }

    func config(type: String = "macvlan", extra: String = "") -> String {
        #"{"cniVersion":"1.1.0","name":"dhnet","type":"\#(type)","master":"up0","ipam":{"type":"dhcp","daemonSocketPath":"\#(socketPath)"\#(extra)}}"#
    }
}

@Suite struct DHCPEndToEndTests {
    @Test func leaseWithRouterDNSAndReleaseOnDel() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed)
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1),
            environment: ["CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web-0"])
        #expect(add.status == 0, "\(add.output)\n\(lab.log("daemon.log"))")
        let ip = try #require(add.json?["ips"]?.arrayValue?.first)
        let address = try #require(ip["address"]?.stringValue)
        #expect(address.hasPrefix("10.77.0.") && address.hasSuffix("/24"))
        #expect(ip["gateway"] == "10.77.0.1")
        #expect(add.json?["routes"] == [["dst": "0.0.0.0/0", "gw": "10.77.0.1"]])
        #expect(add.json?["dns"] == ["nameservers": ["10.77.0.53"], "search": ["corp.example"]])
        let onLink = try bed.ipJSON(c1, "addr", "show", "eth0").arrayValue?.first?["addr_info"]?.arrayValue ?? []
        #expect(onLink.contains { "\($0["local"]?.stringValue ?? "")/\($0["prefixlen"]?.intValue ?? 0)" == address })
        #expect(try bed.ping(from: c1, "10.77.0.1"))
        // dnsmasq knows the lease, with our host name and client identifier.
        let leases = lab.leases()
        #expect(leases.contains(String(address.split(separator: "/")[0])) && leases.contains(" web-0 "), "\(leases)")

        let check = try lab.check(lab.config(), prevResult: add.json, containerID: "c1", netns: c1)
        #expect(check.status == 0, "\(check.output)")

        let del = try bed.plugin(
            "macvlan", "DEL", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(del.status == 0, "\(del.output)")
        // RELEASE went out from the leased address, and dnsmasq dropped the lease.
        try lab.waitFor("dnsmasq to drop the lease") {
            !lab.leases().contains(String(address.split(separator: "/")[0]))
        }
        #expect(lab.log("dnsmasq.log").contains("DHCPRELEASE"))
        #expect(
            try bed.plugin(
                "macvlan", "DEL", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1)
            ).status == 0)
    }

    /// dnsmasq grants 2-minute leases with T1 at 4 s: the daemon is restarted right after ADD,
    /// resumes the lease from disk, confirms it at once with INIT-REBOOT (a REQUEST for the same
    /// address, no DISCOVER), and renews it at T1.
    @Test func restartedDaemonKeepsRenewing() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, dnsmasqOptions: ["--dhcp-option=option:T1,4", "--dhcp-option=option:T2,100"])
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)\n\(lab.log("daemon.log"))")
        let address = try #require(
            add.json?["ips"]?.arrayValue?.first?["address"]?.stringValue?.split(separator: "/").first)
        lab.stopDaemon()
        let requestsBefore = lab.log("dnsmasq.log").occurrences(of: "DHCPREQUEST")
        let discoversBefore = lab.log("dnsmasq.log").occurrences(of: "DHCPDISCOVER")
        try lab.startDaemon()
        try lab.waitFor("the daemon to resume the lease") {
            lab.log("daemon.log").contains("resumed lease \(address)/24")
        }
        try lab.waitFor("INIT-REBOOT after the restart") {
            lab.log("daemon.log").contains(
                "confirmed after the restart \(address)/24 for container c1, network dhnet, interface eth0 from server 10.77.0.1"
            )
        }
        #expect(
            lab.log("dnsmasq.log").occurrences(of: "DHCPDISCOVER") == discoversBefore,
            "a restart must not start over with DISCOVER")
        // The renewal: a unicast REQUEST for the same address, acknowledged.
        try lab.waitFor("a renewal after the restart", seconds: 15) {
            lab.log("dnsmasq.log").occurrences(of: "DHCPREQUEST") > requestsBefore
                && lab.log("daemon.log").contains(
                    "renewed \(address)/24 for container c1, network dhnet, interface eth0 from server 10.77.0.1")
        }
        #expect(
            try bed.plugin(
                "macvlan", "DEL", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1)
            ).status == 0)
    }

    /// The server's MTU goes on the interface, and DEL takes it off again: the IPAM's DEL (run
    /// alone here, while the interface still exists) puts back the MTU the interface had
    /// before the lease, also after a daemon restart (it is kept in the lease's file).
    @Test func serverMTUIsAppliedAndDelPutsBackTheOwnMTU() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, dnsmasqOptions: ["--dhcp-option=option:mtu,1400"])
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)")
        #expect(try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first?["mtu"] == 1400)
        lab.stopDaemon()
        try lab.startDaemon()
        let del = try bed.plugin(
            "dhcp", "DEL", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(del.status == 0, "\(del.output)")
        #expect(
            try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first?["mtu"] == 1500, "\(lab.log("daemon.log"))")
    }

    /// `dhcp leases` lists what the running daemon holds, as a table and as JSON; the lease is
    /// gone from it after DEL.
    @Test func leasesListsWhatTheDaemonHolds() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed)
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)")
        let address = try #require(add.json?["ips"]?.arrayValue?.first?["address"]?.stringValue)
        func leases(_ arguments: [String]) throws -> (Int32, String) {
            let outcome = try ChildProcess.run(
                Testbed.binDirectory + "/dhcp", arguments: ["leases", "-socketpath", lab.socketPath] + arguments,
                environment: [], captureStandardError: true)
            return (outcome.status, String(decoding: outcome.standardOutput + outcome.standardError, as: UTF8.self))
        }
        let (status, json) = try leases(["--json"])
        #expect(status == 0, "\(json)")
        let list = try #require(try JSONValue.parse(json).arrayValue)
        #expect(list.count == 1)
        let lease = try #require(list.first)
        #expect(lease["container"]?.stringValue == "c1" && lease["network"]?.stringValue == "dhnet")
        #expect(lease["interface"]?.stringValue == "eth0" && lease["family"]?.stringValue == "IPv4")
        #expect(lease["address"]?.stringValue == address && lease["server"]?.stringValue == "10.77.0.1")
        #expect(lease["state"]?.stringValue == "bound")
        #expect(lease["expires"]?.stringValue?.hasSuffix("Z") == true, "\(lease)")
        let (_, table) = try leases([])
        let lines = table.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasPrefix("CONTAINER") && lines[1].contains(address), "\(table)")
        #expect(
            try bed.plugin(
                "macvlan", "DEL", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1)
            ).status == 0)
        #expect(try JSONValue.parse(try leases(["--json"]).1).arrayValue?.isEmpty == true)
        let (missing, said) = try leases(["-socketpath", lab.socketPath + ".none"])
        #expect(missing == 1 && said.contains("cannot reach"), "\(said)")
    }

    /// The reference's dhcp daemon (Go net/rpc over HTTP) on the socket: our plugin says so
    /// and how to switch, at once, instead of "did not answer within 65 s".
    @Test func theReferencesDaemonOnTheSocketIsNamed() throws {
        try #require(access("/usr/lib/cni/dhcp", X_OK) == 0, "apt-get install containernetworking-plugins")
        let bed = try Testbed()
        defer { bed.tearDown() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let socket = dir.path + "/reference.sock"
        let daemon = try ChildProcess.spawn(
            "/usr/lib/cni/dhcp", arguments: ["daemon", "-socketpath", socket], environment: [],
            logFile: dir.path + "/reference.log")
        defer { ChildProcess.stop(daemon) }
        for _ in 0..<100 where access(socket, F_OK) != 0 { usleep(50_000) }
        let container = try bed.namespace("c1")
        let config =
            #"{"cniVersion":"1.0.0","name":"refd","type":"dhcp","ipam":{"type":"dhcp","daemonSocketPath":"\#(socket)"}}"#
        let run = try ChildProcess.run(
            "/usr/bin/timeout", arguments: ["20", Testbed.binDirectory + "/dhcp"],
            environment: [
                "CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=\(bed.path(container))", "CNI_IFNAME=eth0",
                "CNI_PATH=/bin",
            ], input: Array(config.utf8))
        let outcome = PluginOutcome(status: run.status, output: String(decoding: run.standardOutput, as: UTF8.self))
        #expect(outcome.status != 124, "the plugin waited for an answer until killed")
        #expect(outcome.errorCode == 11, "\(outcome.output)")
        #expect(outcome.output.contains("reference plugins' dhcp daemon"), "\(outcome.output)")
        #expect(outcome.output.contains("swift-cni-dhcp.socket"), "the error says how to switch: \(outcome.output)")
    }

    /// A rogue or broken server's MTU of 68 is not applied: every reply would then be
    /// fragmented and the lease lost at its renewal. (Its lease of 0 and T1 of 0, which dnsmasq
    /// will not send, are kept sane by `DHCPLease`: DHCPTests.aRogueServersValuesAreKeptSane.)
    @Test func aRogueServersMTUIsNotApplied() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, dnsmasqOptions: ["--dhcp-option=option:mtu,68"])
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)")
        #expect(try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first?["mtu"] == 1500, "MTU 68 was applied")
        #expect(
            try bed.plugin(
                "macvlan", "DEL", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1)
            ).status == 0)
    }

    /// The server changes its mind: at renewal it refuses the address (NAK) and hands out
    /// another; the daemon swaps it on the container's interface.
    @Test func changedLeaseIsAppliedInsideTheContainer() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, dnsmasqOptions: ["--dhcp-option=option:T1,4", "--dhcp-option=option:T2,8"])
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)")
        let first = try #require(
            add.json?["ips"]?.arrayValue?.first?["address"]?.stringValue?.split(separator: "/").first.map(String.init))
        try lab.restartDnsmasq(
            ["--dhcp-option=option:T1,100", "--dhcp-option=option:T2,110"], range: "10.77.0.200,10.77.0.220")
        func addresses() -> [String] {
            ((try? bed.ipJSON(c1, "addr", "show", "eth0"))?.arrayValue?.first?["addr_info"]?.arrayValue ?? [])
                .compactMap { entry in
                    entry["family"] == "inet" ? entry["local"]?.stringValue : nil
                }
        }
        do {
            try lab.waitFor("the new lease on eth0", seconds: 20) {
                let now = addresses()
                return now.count == 1 && now[0].hasPrefix("10.77.0.2") && now[0] != first
            }
        } catch {
            Issue.record("\(error): eth0 has \(addresses())\n\(lab.log("daemon.log"))\n\(lab.log("dnsmasq.log"))")
        }
        #expect(lab.log("dnsmasq.log").contains("DHCPNAK"))
        #expect(try bed.ipJSON(c1, "route", "show", "default").arrayValue?.first?["gateway"] == "10.77.0.1")
    }

    @Test func noServerIsAClearErrorAndNothingIsLeft() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, server: false)
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(extra: #","timeout":2"#), host: lab.host, containerID: "c1",
            netns: bed.path(c1))
        #expect(add.status == 1 && add.errorCode == 11, "\(add.output)")
        let message = try #require(add.json?["msg"]?.stringValue)
        #expect(message.hasPrefix("no DHCP lease for eth0 in netns \(bed.path(c1)) within 2 s: sent "), "\(message)")
        #expect(message.hasSuffix("heard nothing"))
        #expect(try bed.linkNames(c1) == ["lo"])
    }

    @Test func noDaemonSaysHowToStartIt() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, server: false)
        defer { lab.tearDown() }
        lab.stopDaemon()
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(add.errorCode == 11)
        #expect(add.json?["msg"]?.stringValue?.hasPrefix("cannot reach the dhcp daemon at \(lab.socketPath)") == true)
        #expect(add.json?["details"]?.stringValue?.contains("dhcp daemon -socketpath") == true)
        #expect(try bed.linkNames(c1) == ["lo"])
        let status = try bed.plugin(
            "dhcp", "STATUS", config: lab.config(), host: lab.host, containerID: "", netns: nil, ifName: "")
        #expect(status.errorCode == 50)
        #expect(
            try bed.plugin(
                "macvlan", "DEL", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1)
            ).status == 0)
    }

    /// Started the way systemd's swift-cni-dhcp.socket starts it: the socket is passed as fd 3
    /// (LISTEN_FDS=1), and the daemon serves on it.
    @Test(
        .enabled(
            if: access("/usr/bin/systemd-socket-activate", X_OK) == 0, "needs systemd-socket-activate (package systemd)"
        ))
    func socketActivation() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed)
        defer { lab.tearDown() }
        lab.stopDaemon()
        let socket = lab.dir.path + "/activated.sock"
        let activator = try ChildProcess.spawn(
            "/usr/sbin/ip",
            arguments: [
                "netns", "exec", lab.host, "/usr/bin/systemd-socket-activate",
                "-l", socket, Testbed.binDirectory + "/dhcp", "daemon", "-socketpath", socket, "-statedir",
                lab.dir.path + "/state",
            ],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], logFile: lab.dir.path + "/activated.log")
        defer { ChildProcess.stop(activator) }
        try lab.waitFor("the activation socket") { access(socket, F_OK) == 0 }
        let c1 = try bed.namespace("c1")
        let config = lab.config().replacingFirst(lab.socketPath, with: socket)
        let add = try bed.plugin(
            "macvlan", "ADD", config: config, host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)\n\(lab.log("activated.log"))")
        #expect(lab.log("activated.log").contains("listening on \(socket)"))
        #expect(
            try bed.plugin("macvlan", "DEL", config: config, host: lab.host, containerID: "c1", netns: bed.path(c1))
                .status == 0)
    }

    @Test func gcReleasesLeasesOfStaleAttachments() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed)
        defer { lab.tearDown() }
        var addresses: [String: String] = [:]
        for name in ["keep", "drop"] {
            let ns = try bed.namespace(name)
            let add = try bed.plugin(
                "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: name, netns: bed.path(ns))
            #expect(add.status == 0, "\(add.output)")
            addresses[name] = add.json?["ips"]?.arrayValue?.first?["address"]?.stringValue.map {
                String($0.split(separator: "/")[0])
            }
        }
        let gc = lab.config().replacingFirst(
            #""type":"macvlan","#,
            with: #""type":"macvlan","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}],"#)
        let outcome = try bed.plugin(
            "macvlan", "GC", config: gc, host: lab.host, containerID: "", netns: nil, ifName: "")
        #expect(outcome.status == 0, "\(outcome.output)")
        let dropped = try #require(addresses["drop"])
        let kept = try #require(addresses["keep"])
        try lab.waitFor("dnsmasq to drop the stale lease and keep the valid one") {
            let leases = lab.leases()
            return !leases.contains(dropped) && leases.contains(kept)
        }
    }
}

extension String {
    func occurrences(of needle: String) -> Int {
        var count = 0
        var rest = self[...]
        while let range = rest.firstRange(of: needle) {
            count += 1
            rest = rest[range.upperBound...]
        }
        return count
    }
}

/// ipvlan containers share their master's MAC: distinct client identifiers still get them
/// distinct leases. Runs in the VM (the host kernel has no ipvlan).
@Suite(.enabled(if: Testbed.insideVM, "runs inside integration/vm-run.sh; started by VMSuiteTests"))
struct DHCPVMTests {
    @Test func ipvlanContainersGetDistinctLeases() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed)
        defer { lab.tearDown() }
        var addresses: [String] = []
        for name in ["c1", "c2"] {
            let ns = try bed.namespace(name)
            let add = try bed.plugin(
                "ipvlan", "ADD", config: lab.config(type: "ipvlan"), host: lab.host, containerID: name,
                netns: bed.path(ns))
            #expect(add.status == 0, "\(add.output)\n\(lab.log("daemon.log"))")
            if let address = add.json?["ips"]?.arrayValue?.first?["address"]?.stringValue { addresses.append(address) }
        }
        #expect(addresses.count == 2 && Set(addresses).count == 2, "\(addresses)")
        let leases = lab.leases()
        #expect(leases.contains(" c1 ") && leases.contains(" c2 "), "\(leases)")
    }
}

/// The reference's dhcp config keys, as dnsmasq sees them (its --log-dhcp lines).
@Suite struct DHCPParityTests {
    /// Every option name the reference accepts reaches the server: requested ones in option 55
    /// (only those, with `skipDefault`), provided ones as sent; a provided client identifier is
    /// the one the lease is held under and the one RELEASE names (dnsmasq drops the lease);
    /// `priority` is the metric of the lease's routes in the container.
    @Test func optionNamesSkipDefaultClientIdentifierAndPriority() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed)
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        let extra =
            #","priority":42,"request":[{"skipDefault":true},{"option":"subnet-mask"},{"option":"routers"},{"option":"121"}],"#
            + #""provide":[{"option":"dhcp-client-identifier","value":"my-client-id"},{"option":"vendor-class-identifier","value":"vci-swift"},"#
            + #"{"option":"user-class","value":"uc-swift"},{"option":"host-name","fromArg":"K8S_POD_NAME"}]"#
        let config = lab.config(extra: extra)
        let add = try bed.plugin(
            "macvlan", "ADD", config: config, host: lab.host, containerID: "c1", netns: bed.path(c1),
            environment: ["CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=parity-0"])
        #expect(add.status == 0, "\(add.output)\n\(lab.log("daemon.log"))")
        let address = try #require(
            add.json?["ips"]?.arrayValue?.first?["address"]?.stringValue?.split(separator: "/").first.map(String.init))
        let log = lab.log("dnsmasq.log")
        let requested = log.split(separator: "\n").first { $0.contains("requested options:") }.map(String.init) ?? ""
        #expect(
            requested.contains("1:netmask") && requested.contains("3:router")
                && requested.contains("121:classless-static-route"), "\(requested)")
        #expect(!requested.contains("6:dns-server"), "skipDefault: only the listed options are requested: \(requested)")
        #expect(log.contains("vendor class: vci-swift"), "\(log)")
        // Broadcast off (the reference's default): the server unicast its replies, and they
        // arrived (on the daemon's packet socket) at an interface with no address yet.
        #expect(!log.contains("broadcast response"), "\(log)")
        #expect(log.contains("user class: uc-swift"), "\(log)")
        #expect(log.contains("client provides name: parity-0"), "\(log)")
        // The lease is held under the provided client identifier (dnsmasq writes it in hex).
        let hex = Array("my-client-id".utf8).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
        #expect(lab.leases().contains(hex), "\(lab.leases())")
        let routes = try bed.ipJSON(c1, "route", "show", "default").arrayValue ?? []
        #expect(routes.contains { $0["metric"] == 42 }, "\(routes)")
        #expect(
            add.json?["routes"]?.arrayValue?.first?["priority"] == nil || config.contains("\"cniVersion\":\"1.1.0\""))

        let del = try bed.plugin(
            "macvlan", "DEL", config: config, host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(del.status == 0, "\(del.output)")
        try lab.waitFor("dnsmasq to drop the lease") { !lab.leases().contains(address) }
        #expect(
            !lab.log("dnsmasq.log").contains("unknown lease"), "the RELEASE was not matched: \(lab.log("dnsmasq.log"))")
        // The daemon's log: one timestamped line each for the acquire and the release.
        let daemonLog = lab.log("daemon.log")
        #expect(
            daemonLog.contains(
                "dhcp daemon: acquired \(address)/24 for container c1, network dhnet, interface eth0 from server 10.77.0.1"
            ), "\(daemonLog)")
        #expect(
            daemonLog.contains(
                "dhcp daemon: released \(address)/24 of container c1, network dhnet, interface eth0 to server 10.77.0.1"
            ), "\(daemonLog)")
        #expect(
            daemonLog.split(separator: "\n").allSatisfy {
                $0.isEmpty || ($0.first?.isNumber == true && $0.contains("Z dhcp daemon: "))
            }, "\(daemonLog)")
    }

    /// Names the reference does not know are ours; a name no one knows, or a code out of range,
    /// is code 7 naming it.
    @Test func unknownOptionsAreRefused() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, server: false)
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        for option in ["no-such-option", "300", "0"] {
            let add = try bed.plugin(
                "macvlan", "ADD", config: lab.config(extra: #","request":[{"option":"\#(option)"}]"#),
                host: lab.host, containerID: "c1", netns: bed.path(c1))
            #expect(add.errorCode == 7, "\(option): \(add.output)")
            #expect(add.json?["msg"]?.stringValue?.contains(option) == true)
        }
    }

    /// `-broadcast` makes the client ask for broadcast replies, as the reference's flag does.
    @Test func broadcastFlagOfTheDaemon() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, daemonArguments: ["-broadcast"])
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)")
        #expect(lab.log("dnsmasq.log").contains("broadcast response"), "\(lab.log("dnsmasq.log"))")
        #expect(
            try bed.plugin(
                "macvlan", "DEL", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1)
            ).status == 0)
    }

    /// `-hostprefix` as the reference's: it prefixes the socket path too (the daemon of the
    /// Kubernetes DaemonSet runs with the host's / at /host and serves the default path).
    @Test func hostPrefixAppliesToSocketAndNetns() throws {
        let bed = try Testbed()
        // The lab's dir plays the host's /: the socket /dhcp.sock is made at <dir>/dhcp.sock.
        let lab = try DHCPLab(bed, daemonArguments: ["-hostprefix", "HOSTDIR", "-socketpath", "/dhcp.sock"])
        defer { lab.tearDown() }
        try Testbed.run(["/bin/mkdir", "-p", lab.dir.path + "/run"])
        try Testbed.run(["/bin/ln", "-s", "/run/netns", lab.dir.path + "/run/netns"])
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)\n\(lab.log("daemon.log"))")
        #expect(lab.log("daemon.log").contains("listening on \(lab.dir.path)/dhcp.sock"))
        #expect(
            try bed.plugin(
                "macvlan", "DEL", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1)
            ).status == 0)
    }

    /// The dhcp DaemonSet's command and liveness probe as written in deploy/kubernetes (the
    /// node's / at /host played by the lab's directory, the image's /swift-cni/bin by the build):
    /// the probe passes while the daemon answers and fails once it is gone.
    @Test func daemonSetCommandAndLivenessProbe() throws {
        let spec = try JSONValue.parse(
            try Testbed.run([
                "/usr/bin/python3", VMSuiteTests.repositoryRoot + "/integration/k8s-manifests.py", "dhcp",
                VMSuiteTests.repositoryRoot + "/deploy/kubernetes",
            ]))
        let bed = try Testbed()
        let lab = try DHCPLab(bed, server: false, daemonArguments: [])
        defer { lab.tearDown() }
        lab.stopDaemon()
        let node = lab.dir.path + "/node"
        try Testbed.run(["/bin/mkdir", "-p", node + "/run/cni", node + "/var/lib/cni/swift-dhcp"])
        func onThisNode(_ text: String) -> String {
            text.replacing("/swift-cni/bin", with: Testbed.binDirectory).replacing("/host", with: node)
        }
        let command = (spec["command"]?.arrayValue ?? []).compactMap(\.stringValue).map(onThisNode)
        #expect(command.contains("-hostprefix"))
        let daemon = try ChildProcess.spawn(
            "/usr/sbin/ip", arguments: ["netns", "exec", lab.host] + command,
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], logFile: lab.dir.path + "/ds.log")
        defer { ChildProcess.stop(daemon) }
        try lab.waitFor("the DaemonSet's daemon to listen on the node's /run/cni/dhcp.sock") {
            access(node + "/run/cni/dhcp.sock", F_OK) == 0
        }
        let probe = (spec["probe"]?.arrayValue ?? []).compactMap(\.stringValue).map(onThisNode)
        let alive = try ChildProcess.run(
            probe[0], arguments: Array(probe.dropFirst()), environment: ["PATH=/usr/bin:/bin"],
            captureStandardError: true)
        #expect(
            alive.status == 0,
            "probe failed with the daemon up: \(String(decoding: alive.standardOutput + alive.standardError, as: UTF8.self))"
        )
        ChildProcess.stop(daemon)
        let dead = try ChildProcess.run(
            probe[0], arguments: Array(probe.dropFirst()), environment: ["PATH=/usr/bin:/bin"],
            captureStandardError: true)
        #expect(dead.status != 0, "the probe passed with no daemon")
    }

    /// Against a server with Rapid Commit (dnsmasq --dhcp-rapid-commit) the lease comes in one
    /// exchange: DISCOVER, ACK; no OFFER, no REQUEST.
    @Test func rapidCommitWithDnsmasq() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, dnsmasqOptions: ["--dhcp-rapid-commit"])
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)")
        let log = lab.log("dnsmasq.log")
        #expect(log.contains("DHCPDISCOVER") && log.contains("DHCPACK"), "\(log)")
        #expect(!log.contains("DHCPOFFER") && !log.contains("DHCPREQUEST"), "\(log)")
        #expect(
            try bed.plugin(
                "macvlan", "DEL", config: lab.config(), host: lab.host, containerID: "c1", netns: bed.path(c1)
            ).status == 0)
    }
}
