// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swift-cni",
    products: [
        .executable(name: "macvlan", targets: ["macvlan"]),
        .executable(name: "static", targets: ["static"]),
        .executable(name: "host-local", targets: ["host-local"]),
        .executable(name: "ipvlan", targets: ["ipvlan"]),
        .executable(name: "vlan", targets: ["vlan"]),
        .executable(name: "bridge", targets: ["bridge"]),
        .executable(name: "dhcp", targets: ["dhcp"]),
        .executable(name: "cni-bench", targets: ["cni-bench"]),
    ],
    targets: [
        // libmnl from Debian's libmnl-dev, plus a header of inline helpers for the
        // netlink macros Swift cannot import.
        .systemLibrary(
            name: "CMnl",
            pkgConfig: "libmnl",
            providers: [.apt(["libmnl-dev"])]
        ),
        .target(name: "JSON"),
        .target(name: "Addressing"),
        .target(name: "CSystem"),
        .target(name: "Namespaces", dependencies: ["CSystem"]),
        .target(name: "Netlink", dependencies: ["CMnl", "Namespaces", "Addressing"]),
        .target(name: "ProcessRunner", dependencies: ["CSystem"]),
        .target(name: "CNI", dependencies: ["JSON", "Addressing", "ProcessRunner"]),
        .target(name: "DHCP", dependencies: ["Addressing"]),
        .target(name: "DHCPService", dependencies: ["DHCP", "CNI", "JSON", "Namespaces", "Netlink", "Addressing", "CSystem", "ProcessRunner"]),
        .target(name: "Firewall", dependencies: ["ProcessRunner", "JSON", "Addressing"]),
        .target(name: "IPAM", dependencies: ["CNI", "JSON", "Addressing", "CSystem", "ProcessRunner"]),
        .target(name: "Plugins", dependencies: ["CNI", "IPAM", "JSON", "Netlink", "Namespaces", "Addressing", "Firewall"]),
        .executableTarget(name: "macvlan", dependencies: ["Plugins", "CNI"]),
        .executableTarget(name: "static", dependencies: ["IPAM", "CNI"]),
        .executableTarget(name: "host-local", dependencies: ["IPAM", "CNI"]),
        .executableTarget(name: "ipvlan", dependencies: ["Plugins", "CNI"]),
        .executableTarget(name: "vlan", dependencies: ["Plugins", "CNI"]),
        .executableTarget(name: "bridge", dependencies: ["Plugins", "CNI"]),
        .executableTarget(name: "dhcp", dependencies: ["DHCPService", "CNI"]),
        .executableTarget(name: "cni-bench", dependencies: ["Namespaces", "ProcessRunner", "CSystem"]),
        .target(name: "TestSupport", dependencies: ["ProcessRunner"], path: "Tests/TestSupport"),
        .testTarget(
            name: "UnitTests",
            dependencies: ["JSON", "CNI", "IPAM", "Netlink", "Namespaces", "Plugins", "CMnl", "Addressing", "TestSupport", "DHCP"]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["JSON", "CNI", "Netlink", "Namespaces", "ProcessRunner", "Addressing", "CSystem", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
