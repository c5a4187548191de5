import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

struct Options {
    var ours = ""
    var reference = "/usr/lib/cni"
    var cycles = 50
    /// Pause between an ADD and its DEL, in milliseconds: deleting a link within a few
    /// milliseconds of bringing it up costs the kernel more (pending link events), which no
    /// real container lifetime hits; both implementations get the same pause.
    var settleMilliseconds = 100
    /// ADD/DEL cycles through each DHCP daemon (the reference's take seconds each).
    var dhcpCycles = 5
    /// Only the large-input table.
    var largeInputsOnly = false
    var storeScalingOnly = false
    var runtimeOnly = false
    var dhcpOnly = false
    var dhcpPing = true
    var netavarkOnly = false
    var portmapOnly = false
    var tuningOnly = false
    var ptpFirewallOnly = false
    /// ADD/DEL cycles per portmap row (the reference's 100-mapping ADD takes about 1.5 s).
    var portmapCycles = 5
    /// Also time the reference's 1000-mapping ADD (about 40 s each).
    var portmapReference1000 = false
    /// Podman's network backend, for the bridge comparison (Debian's netavark package).
    var netavark = "/usr/lib/podman/netavark"
    /// A Debian root holding another netavark and the glibc it needs (bench/fetch-netavark.sh:
    /// Debian 13's 1.14), run through that glibc's loader instead of `netavark`.
    var netavarkRoot: String?
    /// netavark's firewall driver (NETAVARK_FW: iptables, nftables); nil: its default.
    var netavarkFirewall: String?
    /// bench/c-floor (built by bench/run.sh): the kernel work of a macvlan ADD in one C process.
    var cFloor: String?

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--ours": ours = iterator.next() ?? ""
            case "--reference": reference = iterator.next() ?? reference
            case "--cycles": cycles = Int(iterator.next() ?? "") ?? cycles
            case "--settle-ms": settleMilliseconds = Int(iterator.next() ?? "") ?? settleMilliseconds
            case "--dhcp-cycles": dhcpCycles = Int(iterator.next() ?? "") ?? dhcpCycles
            case "--large-inputs-only": largeInputsOnly = true
            case "--store-scaling-only": storeScalingOnly = true
            case "--runtime-only": runtimeOnly = true
            case "--dhcp-only": dhcpOnly = true
            case "--no-dhcp-ping": dhcpPing = false
            case "--netavark-only": netavarkOnly = true
            case "--portmap-only": portmapOnly = true
            case "--tuning-only": tuningOnly = true
            case "--ptp-firewall-only": ptpFirewallOnly = true
            case "--portmap-cycles": portmapCycles = Int(iterator.next() ?? "") ?? portmapCycles
            case "--portmap-reference-1000": portmapReference1000 = true
            case "--netavark": netavark = iterator.next() ?? netavark
            case "--netavark-root": netavarkRoot = iterator.next()
            case "--netavark-firewall": netavarkFirewall = iterator.next()
            case "--c-floor": cFloor = iterator.next()
            default:
                printError(
                    "usage: cni-bench --ours DIR [--reference DIR] [--cycles N] [--settle-ms MS] [--dhcp-cycles N] [--large-inputs-only] [--store-scaling-only] [--runtime-only] [--dhcp-only] [--netavark-only] [--netavark PATH] [--netavark-root DIR] [--netavark-firewall iptables|nftables] [--c-floor PATH] [--portmap-only] [--portmap-cycles N] [--portmap-reference-1000] [--tuning-only] [--ptp-firewall-only]"
                )
                exit(2)
            }
        }
        if ours.isEmpty {
            printError("cni-bench: --ours DIR is required")
            exit(2)
        }
    }
}
