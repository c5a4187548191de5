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

    /// A plugin whose whole life is `PluginRunner`'s protocol around one `CNIPlugin` value.
    static func plugin(_ name: String, _ summary: String, _ make: @escaping @Sendable () -> any CNIPlugin)
        -> RegisteredPlugin
    {
        RegisteredPlugin(name: name, summary: summary, run: { PluginRunner.main(make()) })
    }

    /// A name with a main of its own (sub-commands beside the plugin, as `dhcp daemon`).
    static func command(_ name: String, _ summary: String, _ main: @escaping @Sendable () -> Never)
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
        .plugin("macvlan", "a macvlan sub-interface of a master, in the container", { MacvlanPlugin() }),
        .plugin("ipvlan", "an ipvlan sub-interface of a master, in the container", { IpvlanPlugin() }),
        .plugin("vlan", "an 802.1Q VLAN sub-interface of a master, in the container", { VlanPlugin() }),
        .plugin("bridge", "a veth pair from the container to a Linux bridge, with NAT", { BridgePlugin() }),
        .plugin("ptp", "a veth pair from the container to the host, with host routes and NAT", { PtpPlugin() }),
        .plugin("host-local", "IPAM: addresses from ranges, reserved on the local disk", { HostLocalPlugin() }),
        .plugin("static", "IPAM: addresses, routes and DNS from the config", { StaticPlugin() }),
        .command("dhcp", "IPAM: DHCPv4 and DHCPv6 leases kept by `dhcp daemon`", { DHCPCommand.main() }),
        .plugin("loopback", "brings up the container's lo", { LoopbackPlugin() }),
        .plugin("portmap", "host ports forwarded to the container (iptables or nftables)", { PortmapPlugin() }),
        .plugin("bandwidth", "rate limits on the container's veth (TBF, ifb)", { BandwidthPlugin() }),
        .plugin("firewall", "lets the container's addresses through FORWARD; ingress policies", { FirewallPlugin() }),
        .plugin(
            "tuning", "sysctls and link settings (MAC, MTU, promisc...) of the container's interface",
            {
                TuningPlugin()
            }),
    ]

    /// Tools the binary also answers to, never installed in a CNI bin dir (`install.sh
    /// --with-cnitool DIR` puts cnitool elsewhere): `--list` does not name them.
    public static let tools: [RegisteredPlugin] = [
        .command(
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
