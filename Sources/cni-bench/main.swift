import CSystem
import Namespaces
import POSIX
import ProcessRunner

// cni-bench: times our plugins against the reference Go plugins in one run, interleaved,
// and prints medians and ratios. Plugins are exec'd from inside a host namespace the
// benchmark makes (the child inherits the thread's namespace), the way a runtime execs them,
// without the cost of `ip netns exec` in the figures.
//
//   cni-bench --ours DIR [--reference /usr/lib/cni] [--cycles 50]

#if canImport(Glibc)
    import Glibc
#endif

struct Options {
    var ours = ""
    var reference = "/usr/lib/cni"
    var cycles = 50
    /// Pause between an ADD and its DEL, in milliseconds: deleting a link within a few
    /// milliseconds of bringing it up costs the kernel more (pending link events), which no
    /// real container lifetime hits; both implementations get the same pause.
    var settleMilliseconds = 100
    /// ADD/DEL cycles through each DHCP daemon (the reference's take seconds each).
    var dhcpCycles = 5
    /// Only the large-input table.
    var largeInputsOnly = false
    var storeScalingOnly = false
    var runtimeOnly = false
    var dhcpOnly = false
    var dhcpPing = true
    /// bench/c-floor (built by bench/run.sh): the kernel work of a macvlan ADD in one C process.
    var cFloor: String?

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--ours": ours = iterator.next() ?? ""
            case "--reference": reference = iterator.next() ?? reference
            case "--cycles": cycles = Int(iterator.next() ?? "") ?? cycles
            case "--settle-ms": settleMilliseconds = Int(iterator.next() ?? "") ?? settleMilliseconds
            case "--dhcp-cycles": dhcpCycles = Int(iterator.next() ?? "") ?? dhcpCycles
            case "--large-inputs-only": largeInputsOnly = true
            case "--store-scaling-only": storeScalingOnly = true
            case "--runtime-only": runtimeOnly = true
            case "--dhcp-only": dhcpOnly = true
            case "--no-dhcp-ping": dhcpPing = false
            case "--c-floor": cFloor = iterator.next()
            default:
                printError(
                    "usage: cni-bench --ours DIR [--reference DIR] [--cycles N] [--settle-ms MS] [--dhcp-cycles N] [--large-inputs-only] [--store-scaling-only] [--runtime-only] [--dhcp-only] [--c-floor PATH]"
                )
                exit(2)
            }
        }
        if ours.isEmpty {
            printError("cni-bench: --ours DIR is required")
            exit(2)
        }
    }
}

func printError(_ text: String) {
    let bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

struct BenchError: Error, CustomStringConvertible { var description: String }

/// One timed exec: wall time and the child's peak memory.
struct Sample {
    var nanoseconds: UInt64
    var peakKiB: Int
}

/// The network namespaces of one benchmark run, deleted at the end whatever happens.
final class BenchNamespaces {
    let prefix = "scni-bench-\(getpid())-"
    var names: [String] = []

    func add(_ suffix: String) throws -> String {
        let name = prefix + suffix
        try shell(["/usr/sbin/ip", "netns", "add", name])
        names.append(name)
        return name
    }

    deinit {
        for name in names.reversed() { _ = try? shell(["/usr/sbin/ip", "netns", "delete", name]) }
    }

    /// A host namespace with an uplink veth `up0` (up), and a container namespace: the host's
    /// handle and the container's path.
    func hostAndContainer(_ label: String) throws -> (NetworkNamespace, String) {
        let hostName = try add("\(label)-host")
        let containerName = try add("\(label)-ctr")
        try shell(["/usr/sbin/ip", "-n", hostName, "link", "add", "up0", "type", "veth", "peer", "name", "up0p"])
        try shell(["/usr/sbin/ip", "-n", hostName, "link", "set", "up0", "up"])
        return (try NetworkNamespace(path: "/run/netns/" + hostName), "/run/netns/" + containerName)
    }
}

@discardableResult
func shell(_ arguments: [String]) throws -> String {
    let outcome = try ChildProcess.run(
        arguments[0], arguments: Array(arguments.dropFirst()),
        environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], captureStandardError: true)
    guard outcome.status == 0 else {
        throw BenchError(
            description: "\(arguments.joined(separator: " ")): "
                + String(decoding: outcome.standardError, as: UTF8.self))
    }
    return String(decoding: outcome.standardOutput, as: UTF8.self)
}

/// Execs `plugin` inside `host` with the CNI environment and config; fails on a non-zero exit.
func invoke(
    _ plugin: String, in host: NetworkNamespace, command: String, config: String,
    containerID: String, netns: String, path: String
) throws -> Sample {
    let environment = [
        "CNI_COMMAND=\(command)", "CNI_CONTAINERID=\(containerID)", "CNI_NETNS=\(netns)",
        "CNI_IFNAME=eth0", "CNI_PATH=\(path)", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    ]
    return try host.run { () throws -> Sample in
        let start = MonotonicClock.nanoseconds
        let outcome = try ChildProcess.run(plugin, environment: environment, input: Array(config.utf8))
        let elapsed = MonotonicClock.nanoseconds - start
        guard outcome.status == 0 else {
            throw BenchError(
                description: "\(plugin) \(command) exited \(outcome.status): "
                    + String(decoding: outcome.standardOutput, as: UTF8.self))
        }
        return Sample(nanoseconds: elapsed, peakKiB: outcome.peakMemoryKiB)
    }
}

/// As `invoke`, with the peak RSS measured by GNU time (`/usr/bin/time -f %M`): wait4's
/// ru_maxrss for a child spawned from this process starts at this process's own RSS (the
/// kernel carries the old mm's high-water mark over exec), which is large once the benchmark
/// holds big inputs; time's own RSS (about 2 MB) is below any plugin's.
func invokeMeasured(
    _ plugin: String, in host: NetworkNamespace, command: String, config: String,
    containerID: String, netns: String, path: String, scratch: String
) throws -> Sample {
    let report = scratch + "/maxrss"
    let environment = [
        "CNI_COMMAND=\(command)", "CNI_CONTAINERID=\(containerID)", "CNI_NETNS=\(netns)",
        "CNI_IFNAME=eth0", "CNI_PATH=\(path)", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    ]
    return try host.run { () throws -> Sample in
        let start = MonotonicClock.nanoseconds
        let outcome = try ChildProcess.run(
            "/usr/bin/time", arguments: ["-f", "%M", "-o", report, plugin],
            environment: environment, input: Array(config.utf8))
        let elapsed = MonotonicClock.nanoseconds - start
        guard outcome.status == 0 else {
            throw BenchError(
                description: "\(plugin) \(command) exited \(outcome.status): "
                    + String(decoding: outcome.standardOutput.prefix(500), as: UTF8.self))
        }
        let text = String(decoding: (try? FileIO.readFile(report)) ?? [], as: UTF8.self)
        let kiB = text.split(separator: "\n").last.flatMap { Int($0) } ?? 0
        return Sample(nanoseconds: elapsed, peakKiB: kiB)
    }
}

func median(_ values: [UInt64]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? Double(sorted[middle]) : Double(sorted[middle - 1] + sorted[middle]) / 2
}

func percentile(_ values: [UInt64], _ fraction: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction))])
}

func format(_ nanoseconds: Double) -> String {
    if nanoseconds < 0 { return "-" + format(-nanoseconds) }
    let milliseconds = nanoseconds / 1_000_000
    let hundredths = Int((milliseconds * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction) ms"
}

func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return right ? padding + text : text + padding
}

struct Row {
    var name: String
    var ours: [Sample] = []
    var reference: [Sample] = []
}

func printTable(_ rows: [Row], cycles: Int, settle: Int) {
    print("")
    print(
        "swift-cni vs reference (containernetworking-plugins in the reference dir), \(cycles) interleaved cycles, \(settle) ms between a link's ADD and DEL"
    )
    let header = [
        pad("operation", 30), pad("ours median", 12, right: true), pad("ref median", 12, right: true),
        pad("ratio", 7, right: true), pad("ours p90", 11, right: true), pad("ref p90", 11, right: true),
        pad("ours peakRSS", 12, right: true), pad("ref peakRSS", 11, right: true),
    ]
    print(header.joined(separator: " "))
    print(String(repeating: "-", count: 112))
    for row in rows {
        let ours = row.ours.map(\.nanoseconds)
        let reference = row.reference.map(\.nanoseconds)
        let ratio = median(reference) > 0 ? median(ours) / median(reference) : 0
        let oursPeak = Int(median(row.ours.map { UInt64($0.peakKiB) }))
        let referencePeak = Int(median(row.reference.map { UInt64($0.peakKiB) }))
        print(
            [
                pad(row.name, 30), pad(format(median(ours)), 12, right: true),
                pad(format(median(reference)), 12, right: true),
                pad(formatRatio(ratio), 7, right: true),
                pad(format(percentile(ours, 0.9)), 11, right: true),
                pad(format(percentile(reference, 0.9)), 11, right: true),
                pad("\(oursPeak) KiB", 12, right: true), pad("\(referencePeak) KiB", 11, right: true),
            ].joined(separator: " "))
    }
    print(
        "ratio = ours median / reference median (below 1.00x: ours is faster). peakRSS = median of each run's peak resident memory (ru_maxrss)."
    )
}

/// "0.45x", "1.20x".
func formatRatio(_ ratio: Double) -> String {
    if ratio > 0 && ratio < 0.1 {
        let thousandths = Int((ratio * 1000).rounded())
        return "0.\(thousandths < 10 ? "00" : (thousandths < 100 ? "0" : ""))\(thousandths)x"
    }
    let hundredths = Int((ratio * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)x"
}

/// Fills a host-local network directory with `count` reservations written directly, as if
/// that many containers held addresses (10.90.0.0/16 from .1.0 up).
func fillStore(_ directory: String, count: Int) throws {
    try shell(["/bin/mkdir", "-p", directory])
    for n in 0..<count {
        let path = directory + "/10.90.\(1 + n / 250).\(1 + n % 250)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchError(description: "cannot write \(path)") }
        let content = Array("filler\(n)\r\neth0".utf8)
        _ = content.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}

func main() throws {
    let options = Options(CommandLine.arguments)
    for (label, directory) in [("ours", options.ours), ("reference", options.reference)] {
        for plugin in ["macvlan", "static", "host-local", "bridge"] where access(directory + "/" + plugin, X_OK) != 0 {
            throw BenchError(
                description:
                    "\(label): \(directory)/\(plugin) is missing (reference: apt-get install containernetworking-plugins)"
            )
        }
    }
    let spaces = BenchNamespaces()
    let hostName = try spaces.add("host")
    let containerName = try spaces.add("ctr")
    try shell(["/usr/sbin/ip", "-n", hostName, "link", "add", "up0", "type", "veth", "peer", "name", "up0p"])
    try shell(["/usr/sbin/ip", "-n", hostName, "link", "set", "up0", "up"])
    try shell(["/usr/sbin/ip", "-n", hostName, "link", "set", "up0p", "up"])
    let host = try NetworkNamespace(path: "/run/netns/" + hostName)
    let netns = "/run/netns/" + containerName
    let dataDir = "/tmp/scni-bench-\(getpid())"
    defer { _ = try? shell(["/bin/rm", "-rf", dataDir]) }

    func hostLocalConfig(_ network: String, type: String = "host-local") -> String {
        #"{"cniVersion":"1.0.0","name":"\#(network)","type":"\#(type)","master":"up0","ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.90.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}]}}"#
    }
    let macvlanStatic =
        #"{"cniVersion":"1.0.0","name":"benchnet","type":"macvlan","master":"up0","mode":"bridge","ipam":{"type":"static","addresses":[{"address":"10.88.0.10/24","gateway":"10.88.0.1"}],"routes":[{"dst":"0.0.0.0/0"}]}}"#

    // Separate networks per implementation so each continues its own store.
    for (label, count) in [("small", 10), ("large", 1000)] {
        for side in ["o", "r"] { try fillStore("\(dataDir)/hl-\(label)-\(side)", count: count) }
    }

    var rows: [String: Row] = [:]
    let names = [
        "VERSION (start-up)", "macvlan+static ADD", "macvlan+static DEL", "macvlan+host-local ADD",
        "macvlan+host-local DEL",
        "bridge+host-local ADD", "bridge+host-local DEL", "bridge+host-local+ipMasq ADD",
        "bridge+host-local+ipMasq DEL",
        "host-local ADD (10 held)", "host-local DEL (10 held)", "host-local ADD (1000 held)",
        "host-local DEL (1000 held)",
    ]
    for name in names { rows[name] = Row(name: name) }
    func record(_ name: String, _ isOurs: Bool, _ sample: Sample) {
        if isOurs { rows[name]?.ours.append(sample) } else { rows[name]?.reference.append(sample) }
    }

    func settle() { usleep(useconds_t(options.settleMilliseconds * 1000)) }
    let implementations = [(options.ours, true), (options.reference, false)]
    for cycle in 0..<options.cycles {
        // Alternate which goes first so neither always runs on a warmer cache.
        for (directory, isOurs) in cycle % 2 == 0 ? implementations : implementations.reversed() {
            let id = "bench\(cycle)\(isOurs ? "o" : "r")"
            let side = isOurs ? "o" : "r"
            func run(_ plugin: String, _ command: String, _ config: String) throws -> Sample {
                try invoke(
                    directory + "/" + plugin, in: host, command: command, config: config, containerID: id, netns: netns,
                    path: directory)
            }
            record("VERSION (start-up)", isOurs, try run("macvlan", "VERSION", #"{"cniVersion":"1.0.0"}"#))
            record("macvlan+static ADD", isOurs, try run("macvlan", "ADD", macvlanStatic))
            settle()
            record("macvlan+static DEL", isOurs, try run("macvlan", "DEL", macvlanStatic))
            let macvlanHostLocal = hostLocalConfig("mv-\(side)", type: "macvlan")
            record("macvlan+host-local ADD", isOurs, try run("macvlan", "ADD", macvlanHostLocal))
            settle()
            record("macvlan+host-local DEL", isOurs, try run("macvlan", "DEL", macvlanHostLocal))
            for (label, masq) in [("bridge+host-local", ""), ("bridge+host-local+ipMasq", #","ipMasq":true"#)] {
                // Each implementation its own bridge and store, so neither sees the other's.
                let config =
                    #"{"cniVersion":"1.0.0","name":"br-\#(side)","type":"bridge","bridge":"br-\#(side)","isGateway":true\#(masq),"ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.\#(isOurs ? 91 : 92).0.0/16"}]]}}"#
                record("\(label) ADD", isOurs, try run("bridge", "ADD", config))
                settle()
                record("\(label) DEL", isOurs, try run("bridge", "DEL", config))
            }
            for (label, held) in [("small", "10"), ("large", "1000")] {
                let config = hostLocalConfig("hl-\(label)-\(side)")
                record("host-local ADD (\(held) held)", isOurs, try run("host-local", "ADD", config))
                record("host-local DEL (\(held) held)", isOurs, try run("host-local", "DEL", config))
            }
        }
    }
    printTable(names.compactMap { rows[$0] }, cycles: options.cycles, settle: options.settleMilliseconds)
    if let small = rows["host-local DEL (10 held)"], let large = rows["host-local DEL (1000 held)"] {
        let ours = median(large.ours.map(\.nanoseconds)) / max(1, median(small.ours.map(\.nanoseconds)))
        let reference = median(large.reference.map(\.nanoseconds)) / max(1, median(small.reference.map(\.nanoseconds)))
        print(
            "host-local DEL with 1000 reservations held / with 10 held: ours \(formatRatio(ours)), reference \(formatRatio(reference))"
        )
    }
}

/// Time to lease: macvlan + dhcp ADD against a local dnsmasq (started with --no-ping), through
/// our daemon and through the reference's, interleaved; then how long ADD takes to fail with
/// no server (our bound from the config; the reference is stopped after `noServerCap` s).
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
}

/// As a runtime calls plugins: a fresh process with only the CNI variables (like `env -i`),
/// host-local on CNI_PATH, DEL right after ADD (no settling pause), interleaved with the
/// reference; next to it what exec'ing /bin/true the same way costs, and the C floor (the same
/// kernel work in one process). Prints what of our ADD is ours: ADD minus the exec cost, as a
/// multiple of the floor.
func benchmarkRuntimeMode(options: Options) throws {
    let spaces = BenchNamespaces()
    let (host, netns) = try spaces.hostAndContainer("rt")
    let dataDir = "/tmp/scni-bench-rt-\(getpid())"
    defer { _ = try? shell(["/bin/rm", "-rf", dataDir]) }
    var rows = [
        Row(name: "exec of /bin/true (baseline)"), Row(name: "macvlan+host-local ADD"),
        Row(name: "macvlan+host-local DEL"),
        Row(name: "bridge+host-local ADD"), Row(name: "bridge+host-local DEL"), Row(name: "macvlan VERSION (start-up)"),
        Row(name: "macvlan+static ADD"), Row(name: "macvlan+static DEL"),
    ]
    var floor: [UInt64] = []
    // ipvlan and 802.1Q rows where the kernel has them (in the VM: integration/vm-run.sh).
    let hostName = String(host.path.split(separator: "/").last ?? "")
    func kernelSupports(_ kind: [String]) -> Bool {
        guard
            (try? shell(
                ["/usr/sbin/ip", "-n", hostName, "link", "add", "link", "up0", "name", "probe0", "type"] + kind)) != nil
        else { return false }
        _ = try? shell(["/usr/sbin/ip", "-n", hostName, "link", "del", "probe0"])
        return true
    }
    let extraKinds = [
        ("ipvlan", ["ipvlan", "mode", "l2"], #""mode":"l2""#), ("vlan", ["vlan", "id", "9"], #""vlanId":9"#),
    ]
    .filter { kernelSupports($0.1) }
    for (kind, _, _) in extraKinds {
        rows += [Row(name: "\(kind)+host-local ADD"), Row(name: "\(kind)+host-local DEL")]
    }
    if extraKinds.count < 2 {
        print(
            "runtime mode: no ipvlan/vlan rows where this kernel lacks them (run it in the VM: integration/vm-run.sh)")
    }
    for cycle in 0..<options.cycles {
        for (directory, isOurs) in cycle % 2 == 0
            ? [(options.ours, true), (options.reference, false)] : [(options.reference, false), (options.ours, true)]
        {
            func record(_ index: Int, _ sample: Sample) {
                if isOurs { rows[index].ours.append(sample) } else { rows[index].reference.append(sample) }
            }
            let baseline = try host.run { () throws -> Sample in
                let start = MonotonicClock.nanoseconds
                let outcome = try ChildProcess.run("/bin/true", environment: ["CNI_COMMAND=VERSION"])
                return Sample(nanoseconds: MonotonicClock.nanoseconds - start, peakKiB: outcome.peakMemoryKiB)
            }
            record(0, baseline)
            let side = isOurs ? "o" : "r"
            let id = "rt\(cycle)\(side)"
            let macvlan =
                #"{"cniVersion":"1.0.0","name":"rt-mv-\#(side)","type":"macvlan","master":"up0","ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.86.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}]}}"#
            record(
                1,
                try invoke(
                    directory + "/macvlan", in: host, command: "ADD", config: macvlan, containerID: id, netns: netns,
                    path: directory))
            record(
                2,
                try invoke(
                    directory + "/macvlan", in: host, command: "DEL", config: macvlan, containerID: id, netns: netns,
                    path: directory))
            let bridge =
                #"{"cniVersion":"1.0.0","name":"rt-br-\#(side)","type":"bridge","bridge":"rtbr-\#(side)","isGateway":true,"ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.\#(isOurs ? 87 : 88).0.0/16"}]]}}"#
            record(
                3,
                try invoke(
                    directory + "/bridge", in: host, command: "ADD", config: bridge, containerID: id, netns: netns,
                    path: directory))
            record(
                4,
                try invoke(
                    directory + "/bridge", in: host, command: "DEL", config: bridge, containerID: id, netns: netns,
                    path: directory))
            // For the breakdown: start-up alone, and the same ADD without a store.
            record(
                5,
                try invoke(
                    directory + "/macvlan", in: host, command: "VERSION", config: #"{"cniVersion":"1.0.0"}"#,
                    containerID: id, netns: netns, path: directory))
            let staticConfig =
                #"{"cniVersion":"1.0.0","name":"rt-st-\#(side)","type":"macvlan","master":"up0","ipam":{"type":"static","addresses":[{"address":"10.85.0.\#(isOurs ? 10 : 11)/24","gateway":"10.85.0.1"}],"routes":[{"dst":"0.0.0.0/0"}]}}"#
            record(
                6,
                try invoke(
                    directory + "/macvlan", in: host, command: "ADD", config: staticConfig, containerID: id,
                    netns: netns, path: directory))
            record(
                7,
                try invoke(
                    directory + "/macvlan", in: host, command: "DEL", config: staticConfig, containerID: id,
                    netns: netns, path: directory))
            for (offset, (kind, _, keys)) in extraKinds.enumerated() {
                let config =
                    #"{"cniVersion":"1.0.0","name":"rt-\#(kind)-\#(side)","type":"\#(kind)","master":"up0",\#(keys),"ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.\#(isOurs ? 83 : 84).\#(offset).0/24"}]]}}"#
                record(
                    8 + offset * 2,
                    try invoke(
                        directory + "/\(kind)", in: host, command: "ADD", config: config, containerID: id, netns: netns,
                        path: directory))
                record(
                    9 + offset * 2,
                    try invoke(
                        directory + "/\(kind)", in: host, command: "DEL", config: config, containerID: id, netns: netns,
                        path: directory))
            }
        }
        if let cFloor = options.cFloor {
            let text = try host.run { () throws -> String in
                let outcome = try ChildProcess.run(cFloor, arguments: ["up0", netns], environment: [])
                return String(decoding: outcome.standardOutput, as: UTF8.self)
            }
            if let nanoseconds = UInt64(text.trimmingWhitespace) { floor.append(nanoseconds) }
        }
    }
    printTable(rows, cycles: options.cycles, settle: 0)
    // Many pods at once: 40 concurrent macvlan+host-local ADDs (one master, one store), then
    // their 40 DELs, each implementation on its own network; wall time of each batch.
    var batches: [String] = []
    for (directory, label) in [(options.ours, "ours"), (options.reference, "reference")] {
        let config =
            #"{"cniVersion":"1.0.0","name":"rt-many-\#(label)","type":"macvlan","master":"up0","ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.\#(label == "ours" ? 90 : 91).0.0/16"}]]}}"#
        var times: [String] = []
        for command in ["ADD", "DEL"] {
            let failures = Concurrently.run(40) { n in
                let environment = [
                    "CNI_COMMAND=\(command)", "CNI_CONTAINERID=many\(n)", "CNI_NETNS=\(netns)", "CNI_IFNAME=m\(n)",
                    "CNI_PATH=\(directory)", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                ]
                let outcome = try? host.run { () throws -> ChildProcess.Outcome in
                    try ChildProcess.run(directory + "/macvlan", environment: environment, input: Array(config.utf8))
                }
                return outcome?.status == 0
            }
            times.append(
                "\(command) \(format(Double(failures.nanoseconds)))"
                    + (failures.failed > 0 ? " (\(failures.failed) failed)" : ""))
        }
        batches.append("\(label): \(times.joined(separator: ", "))")
    }
    print("40 concurrent macvlan+host-local calls, wall time: " + batches.joined(separator: "; "))
    let baseline = median(rows[0].ours.map(\.nanoseconds) + rows[0].reference.map(\.nanoseconds))
    let ours = median(rows[1].ours.map(\.nanoseconds)) - baseline
    let reference = median(rows[1].reference.map(\.nanoseconds)) - baseline
    print(
        "exec baseline \(format(baseline)); macvlan+host-local ADD above it: ours \(format(ours)), reference \(format(reference))"
    )
    if !floor.isEmpty {
        let floorMedian = median(floor)
        print(
            "C floor (bench/c-floor.c, same kernel work in one process): \(format(floorMedian)); ours above exec = \(formatRatio(ours / floorMedian)) the floor"
        )
    }
    // Where our ADD's time above the exec goes: start-up (VERSION above exec), the plugin's
    // kernel work and config (static ADD above VERSION, against the C floor), the store
    // (host-local ADD above static ADD).
    for (label, pick) in [("ours", { (row: Row) in row.ours }), ("reference", { (row: Row) in row.reference })] {
        let exec = median(rows[0].ours.map(\.nanoseconds) + rows[0].reference.map(\.nanoseconds))
        let version = median(pick(rows[5]).map(\.nanoseconds))
        let staticAdd = median(pick(rows[6]).map(\.nanoseconds))
        let hostLocalAdd = median(pick(rows[1]).map(\.nanoseconds))
        print(
            "\(label) ADD breakdown: start-up \(format(version - exec)), macvlan work with static IPAM \(format(staticAdd - version))"
                + (floor.isEmpty ? "" : " (\(formatRatio((staticAdd - version) / median(floor))) the C floor)")
                + ", host-local on top \(format(hostLocalAdd - staticAdd))")
    }
}

/// Runs `body` on `count` threads at once; the wall time and how many returned false.
enum Concurrently {
    final class Job: @unchecked Sendable {
        let work: () -> Void
        init(_ work: @escaping () -> Void) { self.work = work }
    }

    static func run(_ count: Int, _ body: @escaping @Sendable (Int) -> Bool) -> (nanoseconds: UInt64, failed: Int) {
        final class Counter: @unchecked Sendable {
            let monitor = Monitor()
            var failed = 0
        }
        let counter = Counter()
        let start = MonotonicClock.nanoseconds
        var threads: [pthread_t] = []
        for n in 0..<count {
            var thread = pthread_t()
            let job = Job {
                if !body(n) { counter.monitor.locked { counter.failed += 1 } }
            }
            if pthread_create(
                &thread, nil,
                { argument in
                    guard let argument else { return nil }
                    Unmanaged<Job>.fromOpaque(argument).takeRetainedValue().work()
                    return nil
                }, Unmanaged.passRetained(job).toOpaque()) == 0
            {
                threads.append(thread)
            }
        }
        for thread in threads { pthread_join(thread, nil) }
        return (MonotonicClock.nanoseconds - start, counter.monitor.locked { counter.failed })
    }
}

/// Large inputs (issue 13): configs with a 100k-member object, 6 MB of small objects and one
/// 10 MB string, parsed alone (VERSION reads and decodes the whole config) and through a whole
/// macvlan+static ADD and DEL; host-local ADD and DEL with 1000 range sets. Time and peak RSS,
/// ours against the reference, interleaved.
func benchmarkLargeInputs(options: Options) throws {
    let spaces = BenchNamespaces()
    let (host, netns) = try spaces.hostAndContainer("large")
    let dataDir = "/tmp/scni-bench-large-\(getpid())"
    try shell(["/bin/mkdir", "-p", dataDir])
    defer { _ = try? shell(["/bin/rm", "-rf", dataDir]) }

    let base =
        #"{"cniVersion":"1.0.0","name":"large","type":"macvlan","master":"up0","ipam":{"type":"static","addresses":[{"address":"10.89.0.10/24"}]},"#
    let inputs: [(String, String)] = [
        (
            "100k-key object",
            base + #""extra":{"# + (0..<100_000).map { #""key\#($0)":\#($0)"# }.joined(separator: ",") + "}}"
        ),
        (
            "6 MB of objects",
            base + #""extra":["# + (0..<110_000).map { #"{"id":\#($0),"name":"member-\#($0)"}"# }.joined(separator: ",")
                + "]}"
        ),
        ("10 MB string", base + #""extra":""# + String(repeating: "x", count: 10 << 20) + #""}"#),
    ]
    let ranges =
        "[" + (0..<1000).map { #"[{"subnet":"10.\#(100 + $0 / 250).\#($0 % 250).0/30"}]"# }.joined(separator: ",") + "]"
    var rows: [Row] = []
    for (label, _) in inputs {
        rows.append(Row(name: "parse (VERSION), \(label)"))
        rows.append(Row(name: "macvlan ADD, \(label)"))
    }
    rows.append(Row(name: "host-local ADD, 1000 range sets"))
    rows.append(Row(name: "host-local DEL, 1000 range sets"))
    let cycles = max(1, min(options.cycles, 5))
    for cycle in 0..<cycles {
        for (directory, isOurs) in [(options.ours, true), (options.reference, false)] {
            let id = "large\(cycle)\(isOurs ? "o" : "r")"
            func record(_ index: Int, _ sample: Sample) {
                if isOurs { rows[index].ours.append(sample) } else { rows[index].reference.append(sample) }
            }
            for (position, (_, config)) in inputs.enumerated() {
                record(
                    position * 2,
                    try invokeMeasured(
                        directory + "/macvlan", in: host, command: "VERSION", config: config,
                        containerID: id, netns: netns, path: directory, scratch: dataDir))
                record(
                    position * 2 + 1,
                    try invokeMeasured(
                        directory + "/macvlan", in: host, command: "ADD", config: config,
                        containerID: id, netns: netns, path: directory, scratch: dataDir))
                _ = try invoke(
                    directory + "/macvlan", in: host, command: "DEL", config: config, containerID: id, netns: netns,
                    path: directory)
            }
            let hostLocal =
                #"{"cniVersion":"1.0.0","name":"ranges-\#(isOurs ? "o" : "r")","type":"host-local","ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":\#(ranges)}}"#
            record(
                inputs.count * 2,
                try invokeMeasured(
                    directory + "/host-local", in: host, command: "ADD", config: hostLocal,
                    containerID: id, netns: netns, path: directory, scratch: dataDir))
            record(
                inputs.count * 2 + 1,
                try invokeMeasured(
                    directory + "/host-local", in: host, command: "DEL", config: hostLocal,
                    containerID: id, netns: netns, path: directory, scratch: dataDir))
        }
    }
    printTable(rows, cycles: cycles, settle: 0)
    print(
        "Large inputs: peak RSS measured through GNU time. The reference's VERSION does not decode the config; ours does, so its"
    )
    print(
        "row is our whole parse. The reference's macvlan ADD parses the config twice (macvlan and the exec'd static); ours once."
    )
}

/// host-local against the size of its store: ADD, DEL and GC with 10, 1000 and 5000 other
/// reservations held (written as files, as the reference or any earlier version would leave
/// them), each implementation on its own copy. The first ADD after the fill is timed apart:
/// ours reads the whole store then and completes its index; the rows are the steady state.
/// GC gets a valid-attachments list naming every held reservation, so it removes nothing.
func benchmarkStoreScaling(options: Options) throws {
    let spaces = BenchNamespaces()
    let (host, netns) = try spaces.hostAndContainer("sc")
    let dataDir = "/tmp/scni-bench-sc-\(getpid())"
    defer { _ = try? shell(["/bin/rm", "-rf", dataDir]) }
    let sizes = [10, 1000, 5000]
    func config(_ network: String, held: Int, gc: Bool = false) -> String {
        let valid =
            gc
            ? #","cni.dev/valid-attachments":["#
                + (0..<held).map { #"{"containerID":"filler\#($0)","ifname":"eth0"}"# }.joined(separator: ",") + "]"
            : ""
        // GC is CNI 1.1.0; the reference here (v1.1.1) has none and takes ADD/DEL at 1.0.0.
        return
            #"{"cniVersion":"\#(gc ? "1.1.0" : "1.0.0")","name":"\#(network)","type":"host-local"\#(valid),"ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.90.0.0/16"}]]}}"#
    }
    var rows: [Row] = []
    var first = sizes.map { Row(name: "first ADD after \($0) written by others") }
    for held in sizes { rows += ["ADD", "DEL", "GC"].map { Row(name: "host-local \($0) (\(held) held)") } }
    for (index, held) in sizes.enumerated() {
        for (directory, isOurs) in [(options.ours, true), (options.reference, false)] {
            let network = "sc\(held)\(isOurs ? "o" : "r")"
            try fillStore("\(dataDir)/\(network)", count: held)
            let sample = try invoke(
                directory + "/host-local", in: host, command: "ADD", config: config(network, held: held),
                containerID: "warm", netns: netns, path: directory)
            if isOurs { first[index].ours.append(sample) } else { first[index].reference.append(sample) }
            _ = try invoke(
                directory + "/host-local", in: host, command: "DEL", config: config(network, held: held),
                containerID: "warm", netns: netns, path: directory)
        }
    }
    for cycle in 0..<options.cycles {
        for (directory, isOurs) in cycle % 2 == 0
            ? [(options.ours, true), (options.reference, false)] : [(options.reference, false), (options.ours, true)]
        {
            // Each cycle starts with another size, so none always runs first (colder) after a switch.
            for step in 0..<sizes.count {
                let index = (step + cycle) % sizes.count
                let held = sizes[index]
                let network = "sc\(held)\(isOurs ? "o" : "r")"
                let id = "sc\(cycle)"
                func record(_ offset: Int, _ sample: Sample) {
                    if isOurs {
                        rows[index * 3 + offset].ours.append(sample)
                    } else {
                        rows[index * 3 + offset].reference.append(sample)
                    }
                }
                for (offset, command) in ["ADD", "DEL", "GC"].enumerated() where isOurs || command != "GC" {
                    record(
                        offset,
                        try invoke(
                            directory + "/host-local", in: host, command: command,
                            config: config(network, held: held, gc: command == "GC"),
                            containerID: id, netns: netns, path: directory))
                }
            }
        }
    }
    print(
        "Store scaling: host-local alone; GC's input lists every held reservation (the reference, v1.1.1, has no GC: 0.00)"
    )
    printTable(first + rows, cycles: options.cycles, settle: 0)
    for (offset, verb) in ["ADD", "DEL", "GC"].enumerated() {
        let ours = sizes.map { median(rows[(sizes.firstIndex(of: $0) ?? 0) * 3 + offset].ours.map(\.nanoseconds)) }
        let reference = sizes.map {
            median(rows[(sizes.firstIndex(of: $0) ?? 0) * 3 + offset].reference.map(\.nanoseconds))
        }
        print(
            "host-local \(verb) with 1000 / 5000 held vs 10 held: ours \(formatRatio(ours[1] / max(1, ours[0]))) / \(formatRatio(ours[2] / max(1, ours[0]))), "
                + "reference \(formatRatio(reference[1] / max(1, reference[0]))) / \(formatRatio(reference[2] / max(1, reference[0])))"
        )
    }
}

do {
    let options = Options(CommandLine.arguments)
    // One part alone when asked (`--<part>-only`), else everything.
    let parts: [(asked: Bool, run: (Options) throws -> Void)] = [
        (options.largeInputsOnly, benchmarkLargeInputs), (options.storeScalingOnly, benchmarkStoreScaling),
        (options.runtimeOnly, benchmarkRuntimeMode), (options.dhcpOnly, benchmarkDHCP),
    ]
    if let part = parts.first(where: \.asked) {
        try part.run(options)
        exit(0)
    }
    try main()
    try benchmarkRuntimeMode(options: options)
    try benchmarkStoreScaling(options: options)
    try benchmarkLargeInputs(options: options)
    if options.dhcpCycles > 0 {
        guard access("/usr/sbin/dnsmasq", X_OK) == 0, access(options.reference + "/dhcp", X_OK) == 0 else {
            throw BenchError(
                description:
                    "the DHCP benchmark needs dnsmasq (apt-get install dnsmasq-base) and the reference dhcp; --dhcp-cycles 0 skips it"
            )
        }
        try benchmarkDHCP(options: options)
    }
} catch {
    printError("cni-bench: \(error)")
    exit(1)
}
