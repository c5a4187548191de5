import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

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
