import CNI
import CNITool
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// What the multi-call binary does with its argv[0] and arguments.
public enum MultiCall {
    /// `--list` as the only argument prints the plugin names, one a line (what the release, the
    /// installer and the tests read), and exits 0. Otherwise runs the registered plugin named
    /// like the executable; under any other name (`swift-cni`) `--help` prints the usage with
    /// each plugin's summary, and anything else prints it on stderr and exits 1.
    public static func main(arguments: [String] = BuildInfo.arguments) -> Never {
        // `--list` alone is answered under every name, as `--version` is (runtimes pass plugins
        // no arguments): an installer holding only plugin names reads the list from any of them.
        if arguments.count == 2 && arguments[1] == "--list" {
            FileIO.writeAll(.standardOutput, PluginRegistry.all.map { $0.name + "\n" }.joined())
            exit(0)
        }
        if let plugin = PluginRegistry.plugin(named: BuildInfo.invokedName) { plugin.run() }
        // `swift-cni cnitool add ...`: a tool by its name as the first argument.
        if arguments.count > 1, PluginRegistry.tools.contains(where: { $0.name == arguments[1] }) {
            CNITool.main(arguments: Array(arguments.dropFirst()))
        }
        switch arguments.dropFirst().first {
        case "--help", "-h":
            FileIO.writeAll(.standardOutput, usage())
            exit(0)
        default:
            FileIO.writeAll(.standardError, usage())
            exit(1)
        }
    }

    /// The banner, how the binary chooses, and the table of plugins.
    static func usage() -> String {
        let width = (PluginRegistry.all + PluginRegistry.tools).map(\.name.count).max() ?? 0
        let table = (PluginRegistry.all + PluginRegistry.tools).map { plugin in
            "  " + plugin.name + String(repeating: " ", count: width - plugin.name.count + 2) + plugin.summary + "\n"
        }
        return """
            \(BuildInfo.banner(name: "multi-call binary"))
            This binary runs the plugin it is executed as, and "\(BuildInfo.invokedName)" is none of them.
            Install it (hard links or copies) under each plugin's name; `--list` prints the names.

            \(table.joined())
            """
    }
}
