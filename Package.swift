// swift-tools-version:6.0
import PackageDescription

// Debug builds (what `swift test` compiles) fail on any compiler warning, so a new one cannot
// slip in; release and cross builds, made by other compiler versions too, do not.
// Release builds reach the metadata of concrete generic types (Dictionary<String, String>,
// SubInterfacePlugin<MacvlanFlavor>...) through their accessors, not by mangled name: a
// plugin is a short-lived process, and the runtime's demangling and conformance scans of each
// type named that way were a third of a macvlan ADD's instructions (callgrind: 2.04 M -> 1.43 M).
let strict: [SwiftSetting] = [
    .unsafeFlags(["-warnings-as-errors"], .when(configuration: .debug)),
    .unsafeFlags(
        ["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"], .when(configuration: .release)),
]

let package = Package(
    name: "swift-cni",
    products: [
        // What a node installs: one binary, hard-linked under every plugin's name; the names
        // are PluginRegistry's list (`swift-cni --list`).
        .executable(name: "swift-cni", targets: ["swift-cni"])
    ],
    targets: [
        // libmnl from Debian's libmnl-dev, plus a header of inline helpers for the
        // netlink macros Swift cannot import.
        .systemLibrary(
            name: "CMnl",
            pkgConfig: "libmnl",
            providers: [.apt(["libmnl-dev"])]
        ),
        // libnftnl from Debian's libnftnl-dev: nf_tables objects and their netlink messages.
        .systemLibrary(
            name: "CNftnl",
            pkgConfig: "libnftnl",
            providers: [.apt(["libnftnl-dev"])]
        ),
        .target(name: "JSON", swiftSettings: strict),
        .target(name: "Addressing", swiftSettings: strict),
        .target(name: "CSystem"),
        // POSIX plumbing every other module uses: SystemError, whole-file reads of our own
        // files (no symlinks, no FIFOs), FileLock, AtomicFile, directories, the monotonic clock.
        .target(name: "POSIX", dependencies: ["CSystem"], swiftSettings: strict),
        .target(name: "Namespaces", dependencies: ["CSystem", "POSIX"], swiftSettings: strict),
        .target(name: "Netlink", dependencies: ["CMnl", "Namespaces", "Addressing", "POSIX"], swiftSettings: strict),
        // nf_tables in the process: transactions and listings through libnftnl over libmnl.
        .target(
            name: "Nftables", dependencies: ["CNftnl", "Netlink", "Addressing", "Namespaces", "POSIX"],
            swiftSettings: strict),
        .target(name: "ProcessRunner", dependencies: ["CSystem", "POSIX"], swiftSettings: strict),
        // A minimal D-Bus client (system bus, method calls): the firewall plugin's firewalld backend.
        .target(name: "DBus", dependencies: ["POSIX"], swiftSettings: strict),
        .target(
            name: "CNI", dependencies: ["JSON", "Addressing", "ProcessRunner", "POSIX", "CSystem"],
            swiftSettings: strict),
        .target(name: "DHCP", dependencies: ["Addressing"], swiftSettings: strict),
        // The CNI codes of netlink, namespace, sysctl and firewall errors, for every binary.
        .target(
            name: "KernelErrors", dependencies: ["CNI", "Namespaces", "Netlink", "Firewall"], swiftSettings: strict),
        .target(
            name: "DHCPService",
            dependencies: [
                "DHCP", "CNI", "JSON", "Namespaces", "Netlink", "Addressing", "CSystem", "ProcessRunner", "POSIX",
                "KernelErrors",
            ], swiftSettings: strict),
        .target(
            name: "Firewall",
            dependencies: ["ProcessRunner", "JSON", "Addressing", "POSIX", "Netlink", "Nftables", "DBus"],
            swiftSettings: strict),
        .target(name: "IPAM", dependencies: ["CNI", "JSON", "Addressing", "CSystem", "POSIX"], swiftSettings: strict),
        .target(
            name: "Plugins",
            dependencies: [
                "CNI", "IPAM", "JSON", "Netlink", "Namespaces", "Addressing", "Firewall", "ProcessRunner", "POSIX",
                "KernelErrors", "CSystem", "Nftables",
            ], swiftSettings: strict),
        // cnitool: runs a network configuration list by hand, with libcni's result cache.
        .target(name: "CNITool", dependencies: ["CNI", "JSON", "POSIX", "ProcessRunner"], swiftSettings: strict),
        // The one table of plugins (name, summary, entry point) and the multi-call dispatch.
        .target(
            name: "PluginRegistry", dependencies: ["Plugins", "IPAM", "DHCPService", "CNI", "POSIX", "CNITool"],
            swiftSettings: strict),
        .executableTarget(name: "swift-cni", dependencies: ["PluginRegistry"], swiftSettings: strict),
        // The benchmark driver behind bench/run.sh: not a product, never in a release.
        .executableTarget(
            name: "cni-bench", dependencies: ["Namespaces", "ProcessRunner", "POSIX"], path: "bench/cni-bench",
            swiftSettings: strict),
        .target(
            name: "TestSupport", dependencies: ["ProcessRunner", "POSIX"], path: "Tests/TestSupport",
            swiftSettings: strict),
        // The fakes of the node (FakeNode: links, addresses, routes, firewalls, qdiscs, IPAM) behind
        // the plugins' host seam and of the lease daemon's host, for root-free logic tests.
        .target(
            name: "HostFakeSupport",
            dependencies: [
                "Addressing", "CNI", "DHCP", "DHCPService", "Firewall", "Namespaces", "Netlink", "POSIX", "Plugins",
            ], path: "Tests/HostFakeSupport", swiftSettings: strict),
        .testTarget(
            name: "UnitTests",
            dependencies: [
                "JSON", "CNI", "IPAM", "Netlink", "Namespaces", "Plugins", "CMnl", "Addressing", "TestSupport", "DHCP",
                "POSIX", "CSystem", "Firewall", "ProcessRunner", "DHCPService", "Nftables", "DBus", "HostFakeSupport",
            ], swiftSettings: strict),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "JSON", "CNI", "Netlink", "Namespaces", "ProcessRunner", "POSIX", "Addressing", "CSystem",
                "TestSupport", "DHCP", "HostFakeSupport",
            ], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
