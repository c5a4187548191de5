import CSystem

/// Which swift-cni this is: the release version (semver) and the commit it was built from.
public enum BuildInfo {
    public static let version = "0.2.0"

    /// The git commit, stamped by integration/build-release.sh; "unknown commit" otherwise.
    public static var commit: String { String(cString: csystem_build_commit()) }

    /// `swift-cni <name> <version> (<commit>)`: what every binary says when run by hand.
    public static func banner(name: String) -> String { "swift-cni \(name) \(version) (\(commit))" }

    /// The name this process was executed as (the last component of argv[0]).
    public static var invokedName: String {
        let path = arguments.first ?? "swift-cni"
        return path.split(separator: "/").last.map(String.init) ?? path
    }

    /// The process's arguments as main received them (see `csystem_argv`): unlike
    /// `CommandLine.arguments`, also there where /proc is not mounted (a static binary in an
    /// empty chroot or a minimal container).
    public static let arguments: [String] = {
        guard let argv = csystem_argv() else { return CommandLine.arguments }
        return (0..<Int(csystem_argc())).compactMap { argv[$0].map { String(cString: $0) } }
    }()
}
