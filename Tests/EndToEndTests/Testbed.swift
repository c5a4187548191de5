import CSystem
import JSON
import Namespaces
import POSIX
import ProcessRunner
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a plugin printed and how it exited.
struct PluginOutcome {
    var status: Int32
    var output: String
    var json: JSONValue? { try? JSONValue.parse(output) }
    var errorCode: Int? { json?["code"]?.intValue }
}

/// Failures of the test bed itself (a setup command that did not work).
struct TestbedError: Error, CustomStringConvertible {
    var description: String
}

/// Network namespaces that one test creates and always deletes, named with a prefix unique to
/// this process and test ("scni-<pid>-<n>-"), and a way to exec the built plugins in them
/// exactly as a runtime does: `ip netns exec <host> <plugin>` with CNI_* and the config on stdin.
final class Testbed: @unchecked Sendable {
    private static let counter = Atomic<Int>(0)

    /// A CNI bin dir of the plugins under test: $SWIFT_CNI_BIN (a release's bin dir, an older
    /// build's), or else `cni-bin/` beside the test bundle, made here as a node installs the
    /// multi-call binary: one name per plugin of `swift-cni --list`, each a link to the
    /// `swift-cni` that `swift build` wrote (relative symbolic links, so a rebuild is seen).
    static let binDirectory: String = {
        if let override = getenv("SWIFT_CNI_BIN") { return String(cString: override) }
        let directory = (CurrentExecutable.directory ?? ".build/debug") + "/cni-bin"
        mkdir(directory, 0o755)
        for name in registeredPlugins {
            let link = directory + "/" + name
            if symlink("../swift-cni", link) != 0 && errno != EEXIST {
                FileIO.writeAll(.standardError, "Testbed: cannot link \(link): \(String(cString: strerror(errno)))\n")
            }
        }
        return directory
    }()

    /// The plugins of this build, as its registry lists them (`swift-cni --list`).
    static let registeredPlugins: [String] = pluginNames(
        of: (CurrentExecutable.directory ?? ".build/debug") + "/swift-cni")

    /// The names a multi-call binary says it answers to (`--list`); empty when it cannot run.
    static func pluginNames(of binary: String) -> [String] {
        guard
            let listed = try? ChildProcess.run(
                binary, arguments: ["--list"], environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]),
            listed.status == 0
        else { return [] }
        return String(decoding: listed.standardOutput, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    let prefix: String
    private(set) var namespaces: [String] = []

    init() throws {
        if getuid() != 0 {
            // Skipped, loudly: these tests make network namespaces, which needs root.
            FileIO.writeAll(
                .standardError,
                "SKIPPED (not root): end-to-end tests create network namespaces; run swift test as root\n")
            try Test.cancel("skipped: the end-to-end tests create network namespaces and need root")
        }
        let number = Testbed.counter.wrappingAdd(1, ordering: .relaxed).newValue
        prefix = "scni-\(getpid())-\(number)-"
    }

    deinit { tearDown() }

    /// Deletes every namespace this test bed made (links inside go with them).
    func tearDown() {
        for name in namespaces.reversed() { _ = try? Testbed.run(["/usr/sbin/ip", "netns", "delete", name]) }
        namespaces.removeAll()
    }

    /// `ip netns add <prefix><suffix>`; returns the full name.
    @discardableResult
    func namespace(_ suffix: String) throws -> String {
        let name = prefix + suffix
        try Testbed.run(["/usr/sbin/ip", "netns", "add", name])
        namespaces.append(name)
        try ip(name, "link", "set", "lo", "up")
        return name
    }

    func path(_ namespace: String) -> String { "/run/netns/\(namespace)" }

    /// Deletes one namespace now (to test DEL after the container is gone).
    func deleteNamespace(_ name: String) throws {
        try Testbed.run(["/usr/sbin/ip", "netns", "delete", name])
        namespaces.removeAll { $0 == name }
    }

    /// A host namespace with an uplink veth `up0` (peer `up0p`, both up) and, if asked, a
    /// default route out of it, as a node's uplink would be.
    func hostWithUplink(_ suffix: String = "host", defaultRoute: Bool = false) throws -> String {
        let host = try namespace(suffix)
        try ip(host, "link", "add", "up0", "type", "veth", "peer", "name", "up0p")
        try ip(host, "link", "set", "up0", "up")
        try ip(host, "link", "set", "up0p", "up")
        if defaultRoute {
            try ip(host, "addr", "add", "192.0.2.2/24", "dev", "up0")
            try ip(host, "route", "add", "default", "via", "192.0.2.1")
        }
        return host
    }

    /// Runs `ip -n <namespace> args...`, throwing with its stderr when it fails.
    @discardableResult
    func ip(_ namespace: String, _ arguments: String...) throws -> String {
        try Testbed.run(["/usr/sbin/ip", "-n", namespace] + arguments)
    }

    /// `ip -j -n <ns> ...` parsed.
    func ipJSON(_ namespace: String, _ arguments: String...) throws -> JSONValue {
        try JSONValue.parse(try Testbed.run(["/usr/sbin/ip", "-j", "-d", "-n", namespace] + arguments))
    }

    /// Names of the links in a namespace.
    func linkNames(_ namespace: String) throws -> [String] {
        (try ipJSON(namespace, "link", "show").arrayValue ?? []).compactMap { $0["ifname"]?.stringValue }
    }

    /// Runs a command in a namespace (`ip netns exec`), returning its status.
    func exec(_ namespace: String, _ arguments: String...) throws -> Int32 {
        try ChildProcess.run(
            "/usr/sbin/ip", arguments: ["netns", "exec", namespace] + arguments,
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], captureStandardError: true
        ).status
    }

    /// Pings every 0.2 s until one reply comes back, for at most 3 s (the first packet of a
    /// fresh link may wait for neighbour resolution, slow under the VM's emulation); true when
    /// a reply came back.
    func ping(from namespace: String, _ address: String) throws -> Bool {
        try exec(namespace, "ping", "-c", "1", "-i", "0.2", "-w", "3", "-q", address) == 0
    }

    /// Execs plugin `name` from the build directory inside `host`, as a runtime does; in
    /// `workingDirectory` when given (`env -C`), so that relative paths in a config (a fuzzed
    /// `dataDir`) land in a directory the test owns and not in the test runner's.
    func plugin(
        _ name: String, _ command: String, config: String, host: String, containerID: String = "ctr1",
        netns: String? = nil, ifName: String = "eth0", environment extra: [String: String] = [:],
        binDirectory: String = Testbed.binDirectory, cniPath: String? = nil,
        workingDirectory: String? = nil
    ) throws -> PluginOutcome {
        var env = [
            "CNI_COMMAND": command, "CNI_CONTAINERID": containerID, "CNI_NETNS": netns ?? "",
            "CNI_IFNAME": ifName, "CNI_PATH": cniPath ?? binDirectory, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        for (key, value) in extra { env[key] = value }
        let inDirectory = workingDirectory.map { ["/usr/bin/env", "-C", $0] } ?? []
        let outcome = try ChildProcess.run(
            "/usr/sbin/ip", arguments: ["netns", "exec", host] + inDirectory + [binDirectory + "/" + name],
            environment: env.map { "\($0.key)=\($0.value)" }, input: Array(config.utf8))
        return PluginOutcome(status: outcome.status, output: String(decoding: outcome.standardOutput, as: UTF8.self))
    }

    /// Starts plugin `name` inside `host` as `plugin` does, without waiting for it: the config
    /// is read from a file (`configFile`), stdout and stderr go to `logFile`. Returns its pid
    /// (`ip netns exec` and the shell exec into the plugin, so it is the plugin's own), for a
    /// test that kills it half-way.
    func spawnPlugin(
        _ name: String, _ command: String, configFile: String, host: String, containerID: String,
        netns: String, ifName: String = "eth0", logFile: String, environment extra: [String] = []
    ) throws -> pid_t {
        let env =
            [
                "CNI_COMMAND=\(command)", "CNI_CONTAINERID=\(containerID)", "CNI_NETNS=\(netns)",
                "CNI_IFNAME=\(ifName)",
                "CNI_PATH=\(Testbed.binDirectory)", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            ] + extra
        return try ChildProcess.spawn(
            "/usr/sbin/ip",
            arguments: [
                "netns", "exec", host, "/bin/sh", "-c", #"exec "$0" < "$1""#,
                Testbed.binDirectory + "/" + name, configFile,
            ],
            environment: env, logFile: logFile)
    }

    /// Runs a setup command; throws with its stderr when it fails.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let outcome = try ChildProcess.run(
            arguments[0], arguments: Array(arguments.dropFirst()),
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], captureStandardError: true)
        guard outcome.status == 0 else {
            throw TestbedError(
                description: "\(arguments.joined(separator: " ")) exited \(outcome.status): "
                    + String(decoding: outcome.standardError, as: UTF8.self))
        }
        return String(decoding: outcome.standardOutput, as: UTF8.self)
    }

    /// The plugins under test carry the test hooks (SWIFT_CNI_INJECT_FAILURE, SWIFT_CNI_IPAM_EXEC):
    /// debug builds do, release builds do not.
    static let binariesHaveTestHooks: Bool = {
        guard let bytes = try? FileIO.readFile(binDirectory + "/macvlan", limit: 256 << 20) else { return false }
        return bytes.firstRange(of: Array("SWIFT_CNI_INJECT_FAILURE".utf8)) != nil
    }()

    /// The reference Go plugins (Debian's containernetworking-plugins) are in /usr/lib/cni.
    static var referencePluginsInstalled: Bool { access("/usr/lib/cni/bridge", X_OK) == 0 }

    /// True inside the VM runner (integration/vm-run.sh sets it for the kernel suite).
    static var insideVM: Bool { getenv("SWIFT_CNI_IN_VM").map { String(cString: $0) == "1" } ?? false }
}

/// The usual stage of a plugin test: a test bed with a host namespace (uplink `up0`), a
/// container namespace and a fresh store directory, all removed by `tearDown`.
struct PluginStage {
    let bed: Testbed
    let store: TemporaryDirectory
    let host: String
    let container: String
    var netns: String { bed.path(container) }

    init() throws {
        bed = try Testbed()
        store = try TemporaryDirectory()
        host = try bed.hostWithUplink()
        container = try bed.namespace("c")
    }

    func tearDown() {
        bed.tearDown()
        store.remove()
    }
}

/// Runs a body on N threads at once and waits for all.
enum ParallelThreads {
    static func run(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        final class Job: @unchecked Sendable {
            let work: () -> Void
            init(_ work: @escaping () -> Void) { self.work = work }
        }
        var threads: [pthread_t] = []
        for n in 0..<count {
            var thread = pthread_t()
            let job = Job { body(n) }
            if pthread_create(
                &thread, nil,
                { argument in
                    Unmanaged<Job>.fromOpaque(argument!).takeRetainedValue().work()
                    return nil
                }, Unmanaged.passRetained(job).toOpaque()) == 0
            {
                threads.append(thread)
            }
        }
        for thread in threads { pthread_join(thread, nil) }
    }
}

/// A command's stdout as text, with `input` on its stdin.
enum ChildProcessText {
    static func run(_ executable: String, arguments: [String] = [], input: String) throws -> String {
        let outcome = try ChildProcess.run(
            executable, arguments: arguments, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            input: Array(input.utf8))
        return String(decoding: outcome.standardOutput, as: UTF8.self)
    }
}

extension PluginStage {
    /// Another machine on the host namespace's own network: namespace `client` on a veth pair
    /// (host `up1` 198.51.100.1/24, client `cl0` 198.51.100.2/24; with `ipv6`, 2001:db8:1::1 and
    /// ::2 too). Returns the client namespace's name.
    func addClient(ipv6: Bool = false) throws -> String {
        let client = try bed.namespace("client")
        try bed.ip(host, "link", "add", "up1", "type", "veth", "peer", "name", "cl0", "netns", bed.path(client))
        try bed.ip(host, "addr", "add", "198.51.100.1/24", "dev", "up1")
        try bed.ip(host, "link", "set", "up1", "up")
        try bed.ip(client, "addr", "add", "198.51.100.2/24", "dev", "cl0")
        try bed.ip(client, "link", "set", "cl0", "up")
        if ipv6 {
            try bed.ip(host, "addr", "add", "2001:db8:1::1/64", "dev", "up1", "nodad")
            try bed.ip(client, "addr", "add", "2001:db8:1::2/64", "dev", "cl0", "nodad")
        }
        return client
    }
}
