// swift-tools-version:6.0
import PackageDescription

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
        .target(name: "JSON"),
        .target(name: "Addressing"),
        .target(name: "CSystem"),
        // POSIX plumbing every other module uses: SystemError, whole-file reads of our own
        // files (no symlinks, no FIFOs), FileLock, AtomicFile, directories, the monotonic clock.
        .target(name: "POSIX", dependencies: ["CSystem"]),
        .target(name: "Namespaces", dependencies: ["CSystem", "POSIX"]),
        .target(name: "Netlink", dependencies: ["CMnl", "Namespaces", "Addressing", "POSIX"]),
        // nf_tables in the process: transactions and listings through libnftnl over libmnl.
        .target(name: "Nftables", dependencies: ["CNftnl", "Netlink", "Addressing", "Namespaces", "POSIX"]),
        .target(name: "ProcessRunner", dependencies: ["CSystem", "POSIX"]),
        // A minimal D-Bus client (system bus, method calls): the firewall plugin's firewalld backend.
        .target(name: "DBus", dependencies: ["POSIX"]),
        .target(name: "CNI", dependencies: ["JSON", "Addressing", "ProcessRunner", "POSIX", "CSystem"]),
        .target(name: "DHCP", dependencies: ["Addressing"]),
        // The CNI codes of netlink, namespace, sysctl and firewall errors, for every binary.
        .target(name: "KernelErrors", dependencies: ["CNI", "Namespaces", "Netlink", "Firewall"]),
        .target(
            name: "DHCPService",
            dependencies: [
                "DHCP", "CNI", "JSON", "Namespaces", "Netlink", "Addressing", "CSystem", "ProcessRunner", "POSIX",
                "KernelErrors",
            ]),
        .target(
            name: "Firewall",
            dependencies: ["ProcessRunner", "JSON", "Addressing", "POSIX", "Netlink", "Nftables", "DBus"]),
        .target(name: "IPAM", dependencies: ["CNI", "JSON", "Addressing", "CSystem", "POSIX"]),
        .target(
            name: "Plugins",
            dependencies: [
                "CNI", "IPAM", "JSON", "Netlink", "Namespaces", "Addressing", "Firewall", "ProcessRunner", "POSIX",
                "KernelErrors", "CSystem", "Nftables",
            ]),
        // cnitool: runs a network configuration list by hand, with libcni's result cache.
        .target(name: "CNITool", dependencies: ["CNI", "JSON", "POSIX", "ProcessRunner"]),
        // The one table of plugins (name, summary, entry point) and the multi-call dispatch.
        .target(
            name: "PluginRegistry", dependencies: ["Plugins", "IPAM", "DHCPService", "CNI", "POSIX", "CNITool"]),
        .executableTarget(name: "swift-cni", dependencies: ["PluginRegistry"]),
        // The benchmark driver behind bench/run.sh: not a product, never in a release.
        .executableTarget(
            name: "cni-bench", dependencies: ["Namespaces", "ProcessRunner", "POSIX"], path: "bench/cni-bench"),
        .target(name: "TestSupport", dependencies: ["ProcessRunner", "POSIX"], path: "Tests/TestSupport"),
        .testTarget(
            name: "UnitTests",
            dependencies: [
                "JSON", "CNI", "IPAM", "Netlink", "Namespaces", "Plugins", "CMnl", "Addressing", "TestSupport", "DHCP",
                "POSIX", "CSystem", "Firewall", "ProcessRunner", "DHCPService", "Nftables", "DBus",
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "JSON", "CNI", "Netlink", "Namespaces", "ProcessRunner", "POSIX", "Addressing", "CSystem",
                "TestSupport", "DHCP",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
