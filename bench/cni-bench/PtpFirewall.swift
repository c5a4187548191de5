import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

/// ptp (with host-local and ipMasq) and firewall (chained, a container address in its
/// prevResult) against the reference's, interleaved, in a host namespace of the benchmark's.
func benchmarkPtpAndFirewall(options: Options) throws {
    let spaces = BenchNamespaces()
    let (host, netns) = try spaces.hostAndContainer("pf")
    let scratch = "/tmp/scni-bench-pf-\(getpid())"
    try shell(["/bin/mkdir", "-p", scratch])
    defer { _ = try? shell(["/bin/rm", "-rf", scratch]) }
    func ptpConfig(_ side: String) -> String {
        #"{"cniVersion":"1.0.0","name":"pf\#(side)","type":"ptp","ipMasq":true,"ipMasqBackend":"iptables","ipam":{"type":"host-local","dataDir":"\#(scratch)/\#(side)","ranges":[[{"subnet":"10.\#(side == "ours" ? 96 : 97).0.0/16"}]]}}"#
    }
    let firewall =
        #"{"cniVersion":"1.0.0","name":"pffw","type":"firewall","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"br0"},{"name":"eth0","sandbox":"\#(netns)"}],"ips":[{"address":"10.98.0.2/24","interface":1}]}}"#
    var ptpAdd = Row(name: "ptp + host-local + ipMasq ADD")
    var ptpDel = Row(name: "ptp + host-local + ipMasq DEL")
    var fwAdd = Row(name: "firewall ADD")
    var fwDel = Row(name: "firewall DEL")
    for cycle in 0..<options.cycles {
        for ours in cycle % 2 == 0 ? [true, false] : [false, true] {
            let directory = ours ? options.ours : options.reference
            let id = "pf\(cycle)"
            let add = try invoke(
                directory + "/ptp", in: host, command: "ADD", config: ptpConfig(ours ? "ours" : "ref"), containerID: id,
                netns: netns, path: directory)
            usleep(useconds_t(options.settleMilliseconds * 1000))
            let del = try invoke(
                directory + "/ptp", in: host, command: "DEL", config: ptpConfig(ours ? "ours" : "ref"), containerID: id,
                netns: netns, path: directory)
            let fAdd = try invoke(
                directory + "/firewall", in: host, command: "ADD", config: firewall, containerID: id, netns: netns,
                path: directory)
            let fDel = try invoke(
                directory + "/firewall", in: host, command: "DEL", config: firewall, containerID: id, netns: netns,
                path: directory)
            if ours {
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
    print("\nptp and firewall")
    printTable([ptpAdd, ptpDel, fwAdd, fwDel], cycles: options.cycles, settle: options.settleMilliseconds)
}
