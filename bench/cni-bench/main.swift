// cni-bench: times our plugins against the reference Go plugins in one run, interleaved,
// and prints medians and ratios. Plugins are exec'd from inside a host namespace the
// benchmark makes (the child inherits the thread's namespace), the way a runtime execs them,
// without the cost of `ip netns exec` in the figures.
//
//   cni-bench --ours DIR [--reference /usr/lib/cni] [--cycles 50]
//
// Not part of the product: it lives under bench/ and no release artifact carries it.
import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

// What a plugin leaves running (a DEL's worker) becomes ours, so measurements can wait for it
// (`awaitAdoptedWorkers`) and it is reaped.
_ = csystem_become_subreaper()
do {
    let options = Options(CommandLine.arguments)
    // One part alone when asked (`--<part>-only`), else everything.
    let parts: [(asked: Bool, run: (Options) throws -> Void)] = [
        (options.largeInputsOnly, benchmarkLargeInputs), (options.storeScalingOnly, benchmarkStoreScaling),
        (options.runtimeOnly, benchmarkRuntimeMode), (options.dhcpOnly, benchmarkDHCP),
        (options.netavarkOnly, benchmarkNetavark), (options.portmapOnly, benchmarkPortmap),
        (options.tuningOnly, benchmarkTuning), (options.ptpFirewallOnly, benchmarkPtpAndFirewall),
    ]
    if let part = parts.first(where: \.asked) {
        try part.run(options)
        exit(0)
    }
    try benchmarkStandardTable(options: options)
    try benchmarkRuntimeMode(options: options)
    try benchmarkStoreScaling(options: options)
    try benchmarkLargeInputs(options: options)
    try benchmarkPortmap(options: options)
    try benchmarkTuning(options: options)
    try benchmarkPtpAndFirewall(options: options)
    if access(options.netavark, X_OK) == 0 {
        try benchmarkNetavark(options: options)
    } else {
        printError("cni-bench: no netavark at \(options.netavark) (apt-get install netavark): its table is left out")
    }
    if options.dhcpCycles > 0 {
        guard access("/usr/sbin/dnsmasq", X_OK) == 0, access(options.reference + "/dhcp", X_OK) == 0 else {
            throw BenchError(
                description:
                    "the DHCP benchmark needs dnsmasq (apt-get install dnsmasq-base) and the reference dhcp; --dhcp-cycles 0 skips it"
            )
        }
        try benchmarkDHCP(options: options)
    }
} catch {
    printError("cni-bench: \(error)")
    exit(1)
}
