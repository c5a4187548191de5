import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

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

/// The plugins whose DEL leaves a worker behind: it waits out the kernel's release of the
/// deleted link (`deleteLinkWithoutWaitingForRelease`).
private let workerNames: Set<String> = ["macvlan", "ipvlan", "vlan", "bridge", "ptp", "bandwidth"]

/// Waits until every worker a DEL left has ended. The benchmark adopts them (main makes it
/// a child subreaper); a runtime does not wait for them, and neither does the DEL's time, but
/// each measurement starts only once they are gone, so the kernel work they wait on (an RCU
/// barrier) never overlaps the next call timed, ours or the reference's.
func awaitAdoptedWorkers() {
    let me = getpid()
    guard let directory = opendir("/proc") else { return }
    defer { closedir(directory) }
    var workers: [pid_t] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let pid = pid_t(name),
            let stat = try? FileIO.readFile("/proc/\(name)/stat", limit: 4096),
            let open = stat.firstIndex(of: UInt8(ascii: "(")), let close = stat.lastIndex(of: UInt8(ascii: ")"))
        else { continue }
        let comm = String(decoding: stat[(open + 1)..<close], as: UTF8.self)
        let fields = String(decoding: stat[(close + 1)...], as: UTF8.self).split(separator: " ")
        if fields.count > 1, pid_t(fields[1]) == me, workerNames.contains(comm) { workers.append(pid) }
    }
    for pid in workers {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

/// Runs `executable` inside `host` and times it, once the workers earlier DELs left have
/// ended; fails on a non-zero exit with what it said (stdout for a plugin's error JSON,
/// stderr for a tool's message).
func timed(
    _ executable: String, arguments: [String] = [], environment: [String], input: String, in host: NetworkNamespace,
    what: String
) throws -> Sample {
    awaitAdoptedWorkers()
    return try host.run { () throws -> Sample in
        let start = MonotonicClock.nanoseconds
        let outcome = try ChildProcess.run(
            executable, arguments: arguments, environment: environment, input: Array(input.utf8),
            captureStandardError: true)
        let elapsed = MonotonicClock.nanoseconds - start
        guard outcome.status == 0 else {
            throw BenchError(
                description: "\(what) exited \(outcome.status): "
                    + String(decoding: outcome.standardOutput + outcome.standardError, as: UTF8.self))
        }
        return Sample(nanoseconds: elapsed, peakKiB: outcome.peakMemoryKiB)
    }
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
    return try timed(plugin, environment: environment, input: config, in: host, what: "\(plugin) \(command)")
}

/// As `invoke`, with the peak RSS measured by GNU time (`/usr/bin/time -f %M`): wait4's
/// ru_maxrss for a child spawned from this process starts at this process's own RSS (the
/// kernel carries the old mm's high-water mark over exec), which is large once the benchmark
/// holds big inputs; time's own RSS (about 2 MB) is below any plugin's.
func invokeMeasured(
    _ plugin: String, in host: NetworkNamespace, command: String, config: String,
    containerID: String, netns: String, path: String, scratch: String
) throws -> Sample {
    awaitAdoptedWorkers()
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
                pad(reference.isEmpty ? "-" : format(median(reference)), 12, right: true),
                pad(reference.isEmpty ? "-" : formatRatio(ratio), 7, right: true),
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
