import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

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
            awaitAdoptedWorkers()
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
            awaitAdoptedWorkers()
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
            awaitAdoptedWorkers()
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
    // #27's bar as it is worded: the whole ADD above exec (start-up included) against twice
    // the floor plus the store's own file writes (host-local ADD above static ADD).
    if !floor.isEmpty {
        let store = median(rows[1].ours.map(\.nanoseconds)) - median(rows[6].ours.map(\.nanoseconds))
        let bar = 2 * median(floor) + store
        print(
            "goal (#27): macvlan+host-local ADD above exec <= 2x the C floor + host-local's file writes: ours \(format(ours)) against \(format(bar)) (\(formatRatio(ours / bar)) of it)"
        )
    }
}
