/// An address family a lease is asked for: `ipam.ipFamilies`, in the Kubernetes spelling.
enum LeaseFamily: String, Sendable, CaseIterable {
    case ipv4 = "IPv4"
    case ipv6 = "IPv6"
}
