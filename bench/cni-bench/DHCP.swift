import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

/// Time to lease: macvlan + dhcp ADD against a local dnsmasq (started with --no-ping), through
/// our daemon and through the reference's, interleaved; then how long ADD takes to fail with
/// no server (our bound from the config; the reference is stopped after `noServerCap` s);
/// then DHCPv6 and dual stack (ours alone: the reference has no DHCPv6).
func benchmarkDHCP(options: Options) throws {
    let spaces = BenchNamespaces()
    let host = try spaces.add("dhcp-host")
    let lan = try spaces.add("dhcp-lan")
    let container = try spaces.add("dhcp-ctr")
    try shell(["/usr/sbin/ip", "-n", host, "link", "add", "up0", "type", "veth", "peer", "name", "up0p", "netns", lan])
    try shell(["/usr/sbin/ip", "-n", host, "link", "set", "up0", "up"])
    try shell(["/usr/sbin/ip", "-n", lan, "addr", "add", "10.77.0.1/24", "dev", "up0p"])
    try shell(["/usr/sbin/ip", "-n", lan, "link", "set", "up0p", "up"])
    let dir = "/tmp/scni-bench-dhcp-\(getpid())"
    try shell(["/bin/mkdir", "-p", dir])
    defer { _ = try? shell(["/bin/rm", "-rf", dir]) }
    let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    /// dnsmasq on the 'lan' side; `ping`: its default check that an address is unused before
    /// offering it (an ICMP echo, then a wait for an answer).
    func startDnsmasq(ping: Bool, _ label: String) throws -> pid_t {
        try ChildProcess.spawn(
            "/usr/sbin/ip",
            arguments: [
                "netns", "exec", lan, "/usr/sbin/dnsmasq", "--keep-in-foreground",
                "--conf-file=/dev/null", "--port=0", "--interface=up0p", "--bind-interfaces", "--except-interface=lo",
                "--dhcp-range=10.77.0.150,10.77.0.199,255.255.255.0,1h", "--dhcp-option=option:router,10.77.0.1",
                "--dhcp-leasefile=\(dir)/leases-\(label)", "--pid-file=", "--user=root", "--dhcp-authoritative",
            ] + (ping ? [] : ["--no-ping"]),
            environment: environment, logFile: dir + "/dnsmasq-\(label).log")
    }
    var dnsmasq = try startDnsmasq(ping: false, "noping")
    defer { ChildProcess.stop(dnsmasq) }
    let ours = try ChildProcess.spawn(
        "/usr/sbin/ip",
        arguments: [
            "netns", "exec", host, options.ours + "/dhcp", "daemon",
            "-socketpath", dir + "/ours.sock", "-statedir", dir + "/state",
        ], environment: environment, logFile: dir + "/ours.log")
    defer { ChildProcess.stop(ours) }
    let reference = try ChildProcess.spawn(
        "/usr/sbin/ip",
        arguments: [
            "netns", "exec", host, options.reference + "/dhcp", "daemon",
            "-socketpath", dir + "/ref.sock",
        ], environment: environment, logFile: dir + "/ref.log")
    defer { ChildProcess.stop(reference) }
    usleep(500_000)
    let hostNamespace = try NetworkNamespace(path: "/run/netns/" + host)
    func timeToLease(_ name: String, cycles: Int, tag: String) throws -> Row {
        var row = Row(name: name)
        for cycle in 0..<cycles {
            for (directory, socket, isOurs) in [
                (options.ours, "ours.sock", true), (options.reference, "ref.sock", false),
            ] {
                let config =
                    #"{"cniVersion":"1.0.0","name":"dhnet","type":"macvlan","master":"up0","ipam":{"type":"dhcp","daemonSocketPath":"\#(dir)/\#(socket)"}}"#
                let id = "dh\(tag)\(cycle)\(isOurs ? "o" : "r")"
                let sample = try invoke(
                    directory + "/macvlan", in: hostNamespace, command: "ADD", config: config,
                    containerID: id, netns: "/run/netns/" + container, path: directory)
                if isOurs { row.ours.append(sample) } else { row.reference.append(sample) }
                _ = try invoke(
                    directory + "/macvlan", in: hostNamespace, command: "DEL", config: config,
                    containerID: id, netns: "/run/netns/" + container, path: directory)
            }
        }
        return row
    }
    var rows = [try timeToLease("macvlan+dhcp ADD (time to lease)", cycles: options.dhcpCycles, tag: "n")]
    // dnsmasq's default: a ping check before each offer of an address it has not leased. Each
    // ADD here is a new container (a new client id), so every lease waits for it.
    ChildProcess.stop(dnsmasq)
    dnsmasq = try startDnsmasq(ping: true, "ping")
    usleep(300_000)
    if options.dhcpPing {
        rows.append(try timeToLease("… dnsmasq with its ping check", cycles: min(options.dhcpCycles, 3), tag: "p"))
    }
    printTable(rows, cycles: options.dhcpCycles, settle: 0)

    // No server: stop dnsmasq and time until the ADD fails.
    ChildProcess.stop(dnsmasq)
    let noServerCap = 15.0
    var lines: [String] = []
    for (directory, socket, label) in [
        (options.ours, "ours.sock", "ours"), (options.reference, "ref.sock", "reference"),
    ] {
        let config =
            #"{"cniVersion":"1.0.0","name":"dhnet","type":"macvlan","master":"up0","ipam":{"type":"dhcp","daemonSocketPath":"\#(dir)/\#(socket)","timeout":3}}"#
        let start = MonotonicClock.nanoseconds
        let outcome = try hostNamespace.run { () throws -> ChildProcess.Outcome in
            try ChildProcess.run(
                "/usr/bin/timeout", arguments: [String(Int(noServerCap)), directory + "/macvlan"],
                environment: [
                    "CNI_COMMAND=ADD", "CNI_CONTAINERID=noserver", "CNI_NETNS=/run/netns/\(container)",
                    "CNI_IFNAME=eth0", "CNI_PATH=\(directory)",
                ] + environment, input: Array(config.utf8))
        }
        let seconds = Double(MonotonicClock.nanoseconds - start) / 1e9
        let verdict =
            outcome.status == 124
            ? "still waiting after \(Int(noServerCap)) s (stopped)" : "failed after \(format(seconds * 1e9))"
        lines.append("no DHCP server, \(label): \(verdict)")
        _ = try? invoke(
            directory + "/macvlan", in: hostNamespace, command: "DEL", config: config, containerID: "noserver",
            netns: "/run/netns/" + container, path: directory)
    }
    for line in lines { print(line) }

    try benchmarkDHCPv6(
        options: options, lan: lan, dir: dir, hostNamespace: hostNamespace, container: container,
        environment: environment)
}

/// DHCPv6 and dual-stack time to lease against dnsmasq (router advertisements on, Rapid
/// Commit), through our daemon: the median and 90th percentile of `dhcpCycles` ADDs.
func benchmarkDHCPv6(
    options: Options, lan: String, dir: String, hostNamespace: NetworkNamespace, container: String,
    environment: [String]
) throws {
    try shell(["/usr/sbin/ip", "-n", lan, "addr", "add", "fd00:77::1/64", "dev", "up0p", "nodad"])
    let dnsmasq = try ChildProcess.spawn(
        "/usr/sbin/ip",
        arguments: [
            "netns", "exec", lan, "/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
            "--interface=up0p", "--bind-interfaces", "--except-interface=lo",
            "--dhcp-range=10.77.0.150,10.77.0.199,255.255.255.0,1h", "--dhcp-range=fd00:77::100,fd00:77::1ff,64,1h",
            "--enable-ra", "--dhcp-rapid-commit", "--no-ping", "--dhcp-leasefile=\(dir)/leases-v6", "--pid-file=",
            "--user=root", "--dhcp-authoritative",
        ], environment: environment, logFile: dir + "/dnsmasq-v6.log")
    defer { ChildProcess.stop(dnsmasq) }
    usleep(300_000)
    print("")
    print("DHCPv6 (ours; the reference's dhcp plugin has no DHCPv6), \(options.dhcpCycles) ADDs each:")
    for (label, families) in [
        ("IPv4 alone", #"["IPv4"]"#), ("IPv6 alone", #"["IPv6"]"#), ("dual stack", #"["IPv4","IPv6"]"#),
    ] {
        var samples: [UInt64] = []
        for cycle in 0..<options.dhcpCycles {
            let config =
                #"{"cniVersion":"1.0.0","name":"dhnet6","type":"macvlan","master":"up0","ipam":{"type":"dhcp","daemonSocketPath":"\#(dir)/ours.sock","ipFamilies":\#(families)}}"#
            let id = "v6\(label.prefix(4))\(cycle)"
            samples.append(
                try invoke(
                    options.ours + "/macvlan", in: hostNamespace, command: "ADD", config: config, containerID: id,
                    netns: "/run/netns/" + container, path: options.ours
                ).nanoseconds)
            _ = try invoke(
                options.ours + "/macvlan", in: hostNamespace, command: "DEL", config: config, containerID: id,
                netns: "/run/netns/" + container, path: options.ours)
        }
        print(
            "  macvlan+dhcp ADD, \(label): median \(format(median(samples))), p90 \(format(percentile(samples, 0.9)))")
    }
}
