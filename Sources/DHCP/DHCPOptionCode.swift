/// The DHCPv4 option codes of the suite, and their names: the one registry the client, the
/// daemon and the plugin's `request`/`provide` lists read (RFC 2132, 3397, 3442).
public enum DHCPOptionCode {
    public static let pad: UInt8 = 0
    public static let subnetMask: UInt8 = 1
    public static let router: UInt8 = 3
    public static let domainNameServer: UInt8 = 6
    public static let hostName: UInt8 = 12
    public static let domainName: UInt8 = 15
    public static let interfaceMTU: UInt8 = 26
    public static let staticRoutes: UInt8 = 33
    public static let ntpServers: UInt8 = 42
    public static let requestedAddress: UInt8 = 50
    public static let leaseTime: UInt8 = 51
    public static let overload: UInt8 = 52
    public static let messageType: UInt8 = 53
    public static let serverIdentifier: UInt8 = 54
    public static let parameterRequestList: UInt8 = 55
    public static let message: UInt8 = 56
    public static let maximumMessageSize: UInt8 = 57
    public static let renewalTime: UInt8 = 58
    public static let rebindingTime: UInt8 = 59
    public static let vendorClassIdentifier: UInt8 = 60
    public static let clientIdentifier: UInt8 = 61
    public static let userClass: UInt8 = 77
    /// RFC 4039: in DISCOVER, "an ACK instead of an OFFER is fine"; in that ACK, "this is one".
    public static let rapidCommit: UInt8 = 80
    public static let domainSearch: UInt8 = 119
    public static let classlessStaticRoutes: UInt8 = 121
    public static let end: UInt8 = 255

    /// The names a config may give an option by (`ipam.request[].option`,
    /// `ipam.provide[].option`): every name the reference accepts
    /// (plugins/ipam/dhcp/options.go: dhcp-client-identifier, subnet-mask, routers, host-name,
    /// user-class, vendor-class-identifier) and ours, from dhcp-options(5). Lowercase.
    public static let names: [(name: String, code: UInt8)] = [
        ("subnet-mask", subnetMask), ("router", router), ("routers", router), ("domain-name-server", domainNameServer),
        ("dns-server", domainNameServer), ("host-name", hostName), ("hostname", hostName), ("domain-name", domainName),
        ("interface-mtu", interfaceMTU), ("static-routes", staticRoutes), ("ntp-servers", ntpServers),
        ("vendor-class-identifier", vendorClassIdentifier), ("dhcp-client-identifier", clientIdentifier),
        ("user-class", userClass), ("domain-search", domainSearch), ("classless-static-routes", classlessStaticRoutes),
    ]

    /// The code of an option named in a config, whatever its case; nil for a name not in `names`.
    public static func code(named name: String) -> UInt8? {
        let lowercased = name.lowercased()
        return names.first { $0.name == lowercased }?.code
    }
}
