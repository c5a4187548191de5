import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

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
