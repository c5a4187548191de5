import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

/// The standard table: start-up, macvlan/bridge with static and host-local, ipMasq, and
/// host-local alone with 10 and 1000 reservations held, ours and the reference interleaved.
func benchmarkStandardTable(options: Options) throws {
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
