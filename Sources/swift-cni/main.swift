// The multi-call binary of the release: one file installed under each plugin's name (hard
// links), which runs the plugin it was executed as.
import CNI
import DHCPService
import IPAM
import POSIX
import Plugins

#if canImport(Glibc)
    import Glibc
#endif

/// The names the binary answers to, in install order, and what each runs: the one table for
/// the dispatch and the usage message.
let plugins: [(name: String, run: () -> Never)] = [
    ("macvlan", { PluginRunner.main(MacvlanPlugin()) }),
    ("ipvlan", { PluginRunner.main(IpvlanPlugin()) }),
    ("vlan", { PluginRunner.main(VlanPlugin()) }),
    ("bridge", { PluginRunner.main(BridgePlugin()) }),
    ("host-local", { PluginRunner.main(HostLocalPlugin()) }),
    ("static", { PluginRunner.main(StaticPlugin()) }),
    ("dhcp", { DHCPCommand.main() }),
    ("loopback", { PluginRunner.main(LoopbackPlugin()) }),
]

if let plugin = plugins.first(where: { $0.name == BuildInfo.invokedName }) { plugin.run() }
FileIO.writeAll(
    2,
    """
    \(BuildInfo.banner(name: "multi-call binary"))
    swift-cni: this binary runs the plugin it is executed as, and "\(BuildInfo.invokedName)" is none of them.
    Install it (hard links or copies) as: \(plugins.map(\.name).joined(separator: ", ")).

    """)
exit(1)
