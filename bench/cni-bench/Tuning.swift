import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

/// The name under /run/netns of a namespace the benchmark opened.
func hostName(of namespace: NetworkNamespace) -> String {
    String(namespace.path.split(separator: "/").last ?? "")
}

/// tuning and bandwidth against the reference's, interleaved, on a veth pair between the
/// benchmark's host and container namespaces: each plugin's passthrough (no keys: what most
/// chains pay) and an ADD/DEL that changes something (tuning: a sysctl, the MTU and promiscuous
/// mode, put back by DEL; bandwidth: a TBF each way and the ifb).
func benchmarkTuning(options: Options) throws {
    let spaces = BenchNamespaces()
    let (host, netns) = try spaces.hostAndContainer("tn")
    let container = String(netns.split(separator: "/").last ?? "")
    try shell(["/usr/sbin/ip", "-n", container, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"])
    try shell(["/usr/sbin/ip", "-n", container, "link", "set", "peer0", "netns", hostName(of: host)])
    let scratch = "/tmp/scni-bench-tn-\(getpid())"
    defer { _ = try? shell(["/bin/rm", "-rf", scratch]) }
    let previous =
        #"{"cniVersion":"1.0.0","interfaces":[{"name":"peer0"},{"name":"eth0","sandbox":"\#(netns)"}],"ips":[{"address":"10.91.0.2/24","interface":1}]}"#
    func config(_ type: String, _ keys: String) -> String {
        #"{"cniVersion":"1.0.0","name":"tnbench","type":"\#(type)","dataDir":"\#(scratch)"\#(keys),"prevResult":\#(previous)}"#
    }
    /// Interleaved ADD then DEL of `text` by `plugin`; the DEL row only when `withDelete`;
    /// `after` runs after each DEL (bandwidth's host veth keeps its qdiscs until the veth goes).
    func rows(_ plugin: String, _ label: String, _ text: String, withDelete: Bool, after: () -> Void = {}) throws
        -> [Row]
    {
        var add = Row(name: withDelete ? label + " ADD" : label)
        var del = Row(name: label + " DEL")
        for cycle in 0..<options.cycles {
            for ours in cycle % 2 == 0 ? [true, false] : [false, true] {
                let directory = ours ? options.ours : options.reference
                let added = try invoke(
                    directory + "/" + plugin, in: host, command: "ADD", config: text, containerID: "tn", netns: netns,
                    path: directory)
                let removed = try invoke(
                    directory + "/" + plugin, in: host, command: "DEL", config: text, containerID: "tn", netns: netns,
                    path: directory)
                after()
                if ours {
                    add.ours.append(added)
                    del.ours.append(removed)
                } else {
                    add.reference.append(added)
                    del.reference.append(removed)
                }
            }
        }
        return withDelete ? [add, del] : [add]
    }
    let clearQdiscs = {
        for parent in ["root", "ingress"] {
            _ = try? shell([
                "/usr/sbin/ip", "netns", "exec", hostName(of: host), "/usr/sbin/tc", "qdisc", "del", "dev", "peer0",
                parent,
            ])
        }
    }
    var table: [Row] = []
    table += try rows("tuning", "tuning passthrough ADD", config("tuning", ""), withDelete: false)
    table += try rows(
        "tuning", "tuning sysctl+mtu+promisc",
        config("tuning", #","sysctl":{"net.ipv4.conf.IFNAME.arp_ignore":"1"},"mtu":1400,"promisc":true"#),
        withDelete: true)
    table += try rows("bandwidth", "bandwidth passthrough ADD", config("bandwidth", ""), withDelete: false)
    table += try rows(
        "bandwidth", "bandwidth ingress+egress",
        config("bandwidth", #","ingressRate":8000000,"ingressBurst":80000,"egressRate":8000000,"egressBurst":80000"#),
        withDelete: true, after: clearQdiscs)
    print("\ntuning and bandwidth (chained after a main plugin; a veth pair between host and container)")
    printTable(table, cycles: options.cycles, settle: 0)
}
