import CNI

/// The `dhcp` executable: `dhcp daemon [flags]` runs the lease daemon, `dhcp leases` lists
/// what it holds; anything else is the IPAM plugin.
public enum DHCPCommand {
    public static func main(arguments: [String] = BuildInfo.arguments) -> Never {
        if arguments.count > 1 && arguments[1] == "daemon" {
            DHCPDaemon.main(arguments: Array(arguments.dropFirst(2)))
        }
        if arguments.count > 1 && arguments[1] == "leases" {
            LeaseListing.main(arguments: Array(arguments.dropFirst(2)))
        }
        PluginRunner.main(DHCPPlugin())
    }
}
