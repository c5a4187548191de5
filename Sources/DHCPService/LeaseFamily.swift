/// An address family a lease is asked for: `ipam.ipFamilies`, in the Kubernetes spelling.
enum LeaseFamily: String, Sendable, CaseIterable {
    case ipv4 = "IPv4"
    case ipv6 = "IPv6"

    /// The protocol's name in errors: "no DHCP lease", "no DHCPv6 lease".
    var protocolName: String {
        switch self {
        case .ipv4: "DHCP"
        case .ipv6: "DHCPv6"
        }
    }

    /// The lease in log lines: "lost the lease", "lost the DHCPv6 lease".
    var leaseName: String {
        switch self {
        case .ipv4: "lease"
        case .ipv6: "DHCPv6 lease"
        }
    }
}
