import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

/// tuning against the reference's, interleaved: the passthrough (no keys, the common chain's
/// cost) and an ADD/DEL that sets a sysctl, the MTU and promiscuous mode of a veth in the
/// container (put back by DEL).
func benchmarkTuning(options: Options) throws {
    let spaces = BenchNamespaces()
    let (host, netns) = try spaces.hostAndContainer("tn")
    let container = String(netns.split(separator: "/").last ?? "")
    try shell(["/usr/sbin/ip", "-n", container, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"])
    let scratch = "/tmp/scni-bench-tn-\(getpid())"
    defer { _ = try? shell(["/bin/rm", "-rf", scratch]) }
    let previous =
        #"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"\#(netns)"}],"ips":[{"address":"10.91.0.2/24","interface":0}]}"#
    func config(_ keys: String) -> String {
        #"{"cniVersion":"1.0.0","name":"tnbench","type":"tuning","dataDir":"\#(scratch)"\#(keys),"prevResult":\#(previous)}"#
    }
    let passthrough = config("")
    let tuned = config(#","sysctl":{"net.ipv4.conf.IFNAME.arp_ignore":"1"},"mtu":1400,"promisc":true"#)
    var rows: [Row] = []
    for (label, text, withDelete) in [
        ("tuning passthrough ADD", passthrough, false), ("tuning sysctl+mtu+promisc", tuned, true),
    ] {
        var add = Row(name: withDelete ? label + " ADD" : label)
        var del = Row(name: label + " DEL")
        for cycle in 0..<options.cycles {
            for ours in cycle % 2 == 0 ? [true, false] : [false, true] {
                let directory = ours ? options.ours : options.reference
                let sample = try invoke(
                    directory + "/tuning", in: host, command: "ADD", config: text, containerID: "tn", netns: netns,
                    path: directory)
                if ours { add.ours.append(sample) } else { add.reference.append(sample) }
                let removed = try invoke(
                    directory + "/tuning", in: host, command: "DEL", config: text, containerID: "tn", netns: netns,
                    path: directory)
                if withDelete { if ours { del.ours.append(removed) } else { del.reference.append(removed) } }
            }
        }
        rows.append(add)
        if withDelete { rows.append(del) }
    }
    print("\ntuning (chained after a main plugin; a veth in the container)")
    printTable(rows, cycles: options.cycles, settle: 0)
}
