import Addressing
import DHCP
import Netlink

/// A granted lease of either family, as the lease manager logs it, lists it, puts it on the
/// interface and times it.
protocol BoundLease {
    /// The address as log lines and `dhcp leases` show it (DHCPv4: with its prefix length).
    var addressText: String { get }
    /// The granting server as `dhcp leases` shows it (DHCPv6: its DUID in hex).
    var serverText: String { get }
    /// Seconds the lease is valid from when it was granted.
    var lifetime: UInt32 { get }
    /// What a log line says after the address: who granted it and for how long.
    var grantText: String { get }
    /// The address as the interface carries it (DHCPv6 gives no prefix length: a /128).
    var interfacePrefix: IPPrefix? { get }
    /// Routes that go on with a new address at renewal (DHCPv6: none, routers advertise).
    var renewalRoutes: [DHCPRoute] { get }
    /// Flags of the address's RTM_NEWADDR at renewal (DHCPv6: no DAD, the server vouches).
    static var addressFlags: UInt32 { get }
    /// DNS values the server sent that are not domain names (dropped from the lease).
    var refusedValues: [String] { get }
}

extension DHCPLease: BoundLease {
    var addressText: String { address.description }
    var serverText: String { serverIdentifier.description }
    var lifetime: UInt32 { leaseSeconds }
    var grantText: String { "from server \(serverIdentifier), \(leaseSeconds) s" }
    var interfacePrefix: IPPrefix? { address }
    var renewalRoutes: [DHCPRoute] { routes }
    static var addressFlags: UInt32 { 0 }
}

extension DHCPv6Lease: BoundLease {
    var addressText: String { address.description }
    var serverText: String { LeaseCoding.hex(serverIdentifier) }
    var lifetime: UInt32 { validLifetime }
    var grantText: String { "by DHCPv6, valid \(validLifetime) s" }
    var interfacePrefix: IPPrefix? { IPPrefix(address: address, prefixLength: 128) }
    var renewalRoutes: [DHCPRoute] { [] }
    static var addressFlags: UInt32 { InterfaceAddress.noDuplicateAddressDetection }
}
