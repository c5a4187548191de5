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
        let path = CommandLine.arguments.first ?? "swift-cni"
        return path.split(separator: "/").last.map(String.init) ?? path
    }
}
