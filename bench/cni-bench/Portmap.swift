import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

/// portmap ADD and DEL against the reference's (Debian v1.1.1, iptables, about six `iptables`
/// execs per port), interleaved, in a host namespace of the benchmark's: 1, 100 and 1000
/// mappings, 2 mappings on a node already holding 100 attachments' rules, and our nftables
/// backend beside (the reference v1.1.1 has none). portmap needs only the prevResult, so no
/// link is made. The reference's 1000-mapping ADD takes about 40 s: it runs only with
/// `--portmap-reference-1000`.
func benchmarkPortmap(options: Options) throws {
    let spaces = BenchNamespaces()
    let (host, netns) = try spaces.hostAndContainer("pm")
    let previous =
        #"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"\#(netns)"}],"ips":[{"address":"10.92.0.2/24","interface":0}]}"#
    func config(_ count: Int, backend: String = "iptables", firstPort: Int = 20000) -> String {
        let mappings = (0..<count).map { #"{"hostPort":\#(firstPort + $0),"containerPort":80,"protocol":"tcp"}"# }
        return
            #"{"cniVersion":"1.0.0","name":"pmbench","type":"portmap","backend":"\#(backend)","runtimeConfig":{"portMappings":[\#(mappings.joined(separator: ","))]},"prevResult":\#(previous)}"#
    }
    func portmap(_ directory: String, _ command: String, _ config: String, _ id: String) throws -> Sample {
        try invoke(
            directory + "/portmap", in: host, command: command, config: config, containerID: id, netns: netns,
            path: directory)
    }
    /// ADD then DEL of `config`, `cycles` times, ours and (when asked) the reference's, interleaved.
    func rows(_ label: String, _ config: String, cycles: Int, reference: Bool) throws -> [Row] {
        var add = Row(name: "\(label) ADD")
        var del = Row(name: "\(label) DEL")
        for cycle in 0..<cycles {
            let sides = reference ? (cycle % 2 == 0 ? [true, false] : [false, true]) : [true]
            for ours in sides {
                let directory = ours ? options.ours : options.reference
                let id = "pmb\(cycle)"
                let added = try portmap(directory, "ADD", config, id)
                let deleted = try portmap(directory, "DEL", config, id)
                if ours {
                    add.ours.append(added)
                    del.ours.append(deleted)
                } else {
                    add.reference.append(added)
                    del.reference.append(deleted)
                }
            }
        }
        return [add, del]
    }
    let cycles = max(1, options.portmapCycles)
    var table: [Row] = []
    table += try rows("portmap 1 mapping", config(1), cycles: cycles, reference: true)
    table += try rows("portmap 100 mappings", config(100), cycles: cycles, reference: true)
    table += try rows(
        "portmap 1000 mappings", config(1000), cycles: cycles, reference: options.portmapReference1000)
    // A busy node: 100 other attachments with 2 mappings each, made by ours (the same rules
    // as the reference's), then 2 more mappings.
    for n in 0..<100 {
        _ = try portmap(options.ours, "ADD", config(2, firstPort: 30000 + 2 * n), "busy\(n)")
    }
    table += try rows("2 mappings, 100 others", config(2), cycles: cycles, reference: true)
    for n in 0..<100 { _ = try portmap(options.ours, "DEL", config(2, firstPort: 30000 + 2 * n), "busy\(n)") }
    if access("/usr/sbin/nft", X_OK) == 0 {
        table += try rows("nft 1 (ref: iptables)", config(1, backend: "nftables"), cycles: cycles, reference: false)
        table += try rows(
            "nft 1000 (ref: iptables)", config(1000, backend: "nftables"), cycles: cycles, reference: false)
    }
    print("\nportmap (tcp mappings, ours and the reference's iptables backend unless named; \(cycles) cycles)")
    printTable(table, cycles: cycles, settle: 0)
    if !options.portmapReference1000 {
        print(
            "(the reference's 1000-mapping rows: --portmap-reference-1000; measured here once: ADD 42.5 s, DEL 1.3 s)")
    }
}
