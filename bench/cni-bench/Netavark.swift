import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

/// Podman's network backend against our bridge: `netavark setup` / `teardown` of a bridge
/// network with NAT (its default firewall driver) beside our bridge + host-local + ipMasq ADD /
/// DEL with each of our backends (iptables: one iptables-restore; nftables: netlink in the
/// process), interleaved, each in the same host namespace on a bridge and subnet of its own.
/// Netavark gets its address as Podman gives it (static_ips: Podman allocates, netavark
/// applies), so our row includes host-local's allocation and netavark's does not. The table's
/// "ref" columns are netavark's here.
func benchmarkNetavark(options: Options) throws {
    // The program and its leading arguments: Debian's netavark, or another one through the
    // loader of the glibc beside it (`--netavark-root`).
    var program = options.netavark
    var leading: [String] = []
    if let root = options.netavarkRoot {
        let libraries = root + "/usr/lib/x86_64-linux-gnu"
        program = libraries + "/ld-linux-x86-64.so.2"
        leading = ["--library-path", libraries, root + "/usr/lib/podman/netavark"]
    }
    guard access(program, X_OK) == 0 else {
        throw BenchError(description: "\(program) is missing (apt-get install netavark; bench/fetch-netavark.sh)")
    }
    let version =
        (try? ChildProcess.run(program, arguments: leading + ["--version"], environment: []))
        .map { String(decoding: $0.standardOutput, as: UTF8.self).trimmingWhitespace } ?? "netavark"
    let firewall = options.netavarkFirewall.map { ["NETAVARK_FW=\($0)"] } ?? []
    let spaces = BenchNamespaces()
    let (host, netns) = try spaces.hostAndContainer("nv")
    let scratch = "/tmp/scni-bench-nv-\(getpid())"
    try shell(["/bin/mkdir", "-p", scratch + "/netavark"])
    defer { _ = try? shell(["/bin/rm", "-rf", scratch]) }
    func ours(_ backend: String) -> String {
        let octet = backend == "iptables" ? 94 : 95
        return
            #"{"cniVersion":"1.0.0","name":"nv\#(backend)","type":"bridge","bridge":"o\#(backend.prefix(3))0","isGateway":true,"ipMasq":true,"ipMasqBackend":"\#(backend)","ipam":{"type":"host-local","dataDir":"\#(scratch)/store","ranges":[[{"subnet":"10.\#(octet).0.0/16"}]]}}"#
    }
    func netavarkOptions(_ cycle: Int) -> String {
        let id = String(repeating: "0", count: 56) + FNV1a.hex(UInt64(cycle), digits: 8)
        return
            #"{"container_id":"\#(id)","container_name":"bench\#(cycle)","networks":{"benchnet":{"static_ips":["10.93.\#(cycle / 250).\#(cycle % 250 + 2)"],"interface_name":"eth0"}},"network_info":{"benchnet":{"name":"benchnet","id":"\#(String(repeating: "a", count: 64))","driver":"bridge","network_interface":"nvbr0","subnets":[{"subnet":"10.93.0.0/16","gateway":"10.93.0.1"}],"ipv6_enabled":false,"internal":false,"dns_enabled":false,"ipam_options":{"driver":"host-local"}}}}"#
    }
    func netavark(_ verb: String, _ cycle: Int) throws -> Sample {
        try timed(
            program, arguments: leading + ["--config", scratch + "/netavark", verb, netns],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"] + firewall, input: netavarkOptions(cycle), in: host,
            what: "netavark \(verb)")
    }
    let backends = ["iptables", "nftables"]
    var add = backends.map { Row(name: "bridge+ipMasq(\($0)) ADD | setup") }
    var del = backends.map { Row(name: "bridge+ipMasq(\($0)) DEL | teardown") }
    var setups: [Sample] = []
    var teardowns: [Sample] = []
    for cycle in 0..<options.cycles {
        // Rotated each cycle: netavark, then our iptables, then our nftables; and so on.
        for turn in 0..<3 {
            let which = (turn + cycle) % 3
            if which < 2 {
                let id = "nv\(cycle)"
                let config = ours(backends[which])
                add[which].ours.append(
                    try invoke(
                        options.ours + "/bridge", in: host, command: "ADD", config: config, containerID: id,
                        netns: netns, path: options.ours))
                usleep(useconds_t(options.settleMilliseconds * 1000))
                del[which].ours.append(
                    try invoke(
                        options.ours + "/bridge", in: host, command: "DEL", config: config, containerID: id,
                        netns: netns, path: options.ours))
            } else {
                setups.append(try netavark("setup", cycle))
                usleep(useconds_t(options.settleMilliseconds * 1000))
                teardowns.append(try netavark("teardown", cycle))
            }
        }
    }
    for index in backends.indices {
        add[index].reference = setups
        del[index].reference = teardowns
    }
    print(
        "\nPodman's \(version) (firewall driver: \(options.netavarkFirewall ?? "its default")) in the ref columns:"
            + " setup/teardown of a bridge network with NAT")
    printTable(add + del, cycles: options.cycles, settle: options.settleMilliseconds)
}
