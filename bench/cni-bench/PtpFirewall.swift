import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

/// ptp (with host-local and ipMasq) and firewall (chained, a container address in its
/// prevResult) against the reference's, interleaved, in a host namespace of the benchmark's;
/// and our ptp ipMasq and firewall on the nftables backend (the reference's firewall has
/// none; its ptp's ipMasq on nftables needs v1.6+), against the reference's iptables runs.
func benchmarkPtpAndFirewall(options: Options) throws {
    let spaces = BenchNamespaces()
    let (host, netns) = try spaces.hostAndContainer("pf")
    let scratch = "/tmp/scni-bench-pf-\(getpid())"
    try shell(["/bin/mkdir", "-p", scratch])
    defer { _ = try? shell(["/bin/rm", "-rf", scratch]) }
    func ptpConfig(_ side: String, backend: String = "iptables") -> String {
        #"{"cniVersion":"1.0.0","name":"pf\#(side)","type":"ptp","ipMasq":true,"ipMasqBackend":"\#(backend)","ipam":{"type":"host-local","dataDir":"\#(scratch)/\#(side)","ranges":[[{"subnet":"10.\#(side == "ours" ? 96 : 97).0.0/16"}]]}}"#
    }
    func firewallConfig(backend: String = "iptables") -> String {
        #"{"cniVersion":"1.0.0","name":"pffw","type":"firewall","backend":"\#(backend)","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"br0"},{"name":"eth0","sandbox":"\#(netns)"}],"ips":[{"address":"10.98.0.2/24","interface":1}]}}"#
    }
    var ptpAdd = Row(name: "ptp + host-local + ipMasq ADD")
    var ptpDel = Row(name: "ptp + host-local + ipMasq DEL")
    var fwAdd = Row(name: "firewall ADD")
    var fwDel = Row(name: "firewall DEL")
    // Ours on nftables; the reference columns hold the same cycles' reference iptables runs.
    var ptpNftAdd = Row(name: "ptp ipMasq nftables ADD (ref: iptables)")
    var ptpNftDel = Row(name: "ptp ipMasq nftables DEL (ref: iptables)")
    var fwNftAdd = Row(name: "firewall nftables ADD (ref: iptables)")
    var fwNftDel = Row(name: "firewall nftables DEL (ref: iptables)")
    for cycle in 0..<options.cycles {
        for turn in 0..<3 {
            // Rotated each cycle: ours on iptables, the reference, ours on nftables.
            let which = (turn + cycle) % 3
            let ours = which != 1
            let backend = which == 2 ? "nftables" : "iptables"
            let directory = ours ? options.ours : options.reference
            let id = "pf\(cycle)"
            let ptp = ptpConfig(ours ? "ours" : "ref", backend: backend)
            let add = try invoke(
                directory + "/ptp", in: host, command: "ADD", config: ptp, containerID: id, netns: netns,
                path: directory)
            usleep(useconds_t(options.settleMilliseconds * 1000))
            let del = try invoke(
                directory + "/ptp", in: host, command: "DEL", config: ptp, containerID: id, netns: netns,
                path: directory)
            let firewall = ours ? firewallConfig(backend: backend) : firewallConfig()
            let fAdd = try invoke(
                directory + "/firewall", in: host, command: "ADD", config: firewall, containerID: id, netns: netns,
                path: directory)
            let fDel = try invoke(
                directory + "/firewall", in: host, command: "DEL", config: firewall, containerID: id, netns: netns,
                path: directory)
            if which == 2 {
                ptpNftAdd.ours.append(add)
                ptpNftDel.ours.append(del)
                fwNftAdd.ours.append(fAdd)
                fwNftDel.ours.append(fDel)
            } else if ours {
                ptpAdd.ours.append(add)
                ptpDel.ours.append(del)
                fwAdd.ours.append(fAdd)
                fwDel.ours.append(fDel)
            } else {
                ptpAdd.reference.append(add)
                ptpDel.reference.append(del)
                fwAdd.reference.append(fAdd)
                fwDel.reference.append(fDel)
            }
        }
    }
    ptpNftAdd.reference = ptpAdd.reference
    ptpNftDel.reference = ptpDel.reference
    fwNftAdd.reference = fwAdd.reference
    fwNftDel.reference = fwDel.reference
    print("\nptp and firewall")
    printTable(
        [ptpAdd, ptpDel, fwAdd, fwDel, ptpNftAdd, ptpNftDel, fwNftAdd, fwNftDel], cycles: options.cycles,
        settle: options.settleMilliseconds)
}
