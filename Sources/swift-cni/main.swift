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

switch BuildInfo.invokedName {
case "macvlan": PluginRunner.main(MacvlanPlugin())
case "ipvlan": PluginRunner.main(IpvlanPlugin())
case "vlan": PluginRunner.main(VlanPlugin())
case "bridge": PluginRunner.main(BridgePlugin())
case "host-local": PluginRunner.main(HostLocalPlugin())
case "static": PluginRunner.main(StaticPlugin())
case "dhcp": DHCPCommand.main()
case "loopback": PluginRunner.main(LoopbackPlugin())
default:
    FileIO.writeAll(
        2,
        """
        \(BuildInfo.banner(name: "multi-call binary"))
        swift-cni: this binary runs the plugin it is executed as, and "\(BuildInfo.invokedName)" is none of them.
        Install it (hard links or copies) as: \(MultiCall.names.joined(separator: ", ")).

        """)
    exit(1)
}
