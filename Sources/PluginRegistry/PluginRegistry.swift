import CNI
import CNITool
import DHCPService
import IPAM
import Plugins

/// One plugin of the suite: the name a runtime execs it by, what it is in one line, and what
/// the process runs when executed under that name.
public struct RegisteredPlugin: Sendable {
    /// The file name in the CNI bin dir (the `type` of a network config).
    public let name: String
    /// One line for `swift-cni --help` and the docs.
    public let summary: String
    /// The plugin's `main`: reads the environment and stdin, prints, exits.
    public let run: @Sendable () -> Never

    /// A name and the main its process runs. A plugin's main is `PluginRunner`'s protocol
    /// around one value, written with the plugin's own type — `{ PluginRunner.main(SomePlugin()) }`,
    /// not through `any CNIPlugin` — so the runner is specialized for it (an existential opened
    /// at run time cost each process the runtime's metadata lookups for the runner's generic
    /// types: 85 k instructions of an ADD under callgrind). A name with sub-commands beside its
    /// plugin (`dhcp daemon`) or a tool has a main of its own.
    static func entry(_ name: String, _ summary: String, _ main: @escaping @Sendable () -> Never)
        -> RegisteredPlugin
    {
        RegisteredPlugin(name: name, summary: summary, run: main)
    }
}

/// Every plugin the multi-call binary answers to, in install order: the one list that the
/// binary's dispatch, `swift-cni --list`, the release, the installer and the tests read.
/// Adding a plugin is its folder under `Sources/Plugins/` and one line here.
public enum PluginRegistry {
    public static let all: [RegisteredPlugin] = [
        .entry(
            "macvlan", "a macvlan sub-interface of a master, in the container", { PluginRunner.main(MacvlanPlugin()) }),
        .entry(
            "ipvlan", "an ipvlan sub-interface of a master, in the container", { PluginRunner.main(IpvlanPlugin()) }),
        .entry(
            "vlan", "an 802.1Q VLAN sub-interface of a master, in the container", { PluginRunner.main(VlanPlugin()) }),
        .entry(
            "bridge", "a veth pair from the container to a Linux bridge, with NAT",
            { PluginRunner.main(BridgePlugin()) }),
        .entry(
            "ptp", "a veth pair from the container to the host, with host routes and NAT",
            { PluginRunner.main(PtpPlugin()) }),
        .entry(
            "host-local", "IPAM: addresses from ranges, reserved on the local disk",
            { PluginRunner.main(HostLocalPlugin()) }),
        .entry("static", "IPAM: addresses, routes and DNS from the config", { PluginRunner.main(StaticPlugin()) }),
        .entry("dhcp", "IPAM: DHCPv4 and DHCPv6 leases kept by `dhcp daemon`", { DHCPCommand.main() }),
        .entry("loopback", "brings up the container's lo", { PluginRunner.main(LoopbackPlugin()) }),
        .entry(
            "portmap", "host ports forwarded to the container (iptables or nftables)",
            { PluginRunner.main(PortmapPlugin()) }),
        .entry(
            "bandwidth", "rate limits on the container's veth (TBF, ifb)", { PluginRunner.main(BandwidthPlugin()) }),
        .entry(
            "firewall", "lets the container's addresses through FORWARD; ingress policies",
            { PluginRunner.main(FirewallPlugin()) }),
        .entry(
            "tuning", "sysctls and link settings (MAC, MTU, promisc...) of the container's interface",
            { PluginRunner.main(TuningPlugin()) }),
    ]

    /// Tools the binary also answers to, never installed in a CNI bin dir (`install.sh
    /// --with-cnitool DIR` puts cnitool elsewhere): `--list` does not name them.
    public static let tools: [RegisteredPlugin] = [
        .entry(
            "cnitool", "runs a network config list on a netns by hand (add|check|del|gc|status)",
            {
                CNITool.main(arguments: BuildInfo.arguments)
            })
    ]

    /// The plugin or tool registered under `name`, if any.
    public static func plugin(named name: String) -> RegisteredPlugin? {
        all.first { $0.name == name } ?? tools.first { $0.name == name }
    }
}
