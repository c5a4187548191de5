import CNI
import DHCPService

if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "daemon" {
    DHCPDaemon.main(arguments: Array(CommandLine.arguments.dropFirst(2)))
}
PluginRunner.main(DHCPPlugin())
