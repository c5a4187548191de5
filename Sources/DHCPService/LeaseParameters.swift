/// What an attachment's network config asks of its lease (the `ipam` keys beside the socket
/// path): the dhcp plugin reads it (`DHCPPlugin.settings`) and sends it whole in every
/// `DaemonRequest`, so a new key is added here once.
struct LeaseParameters: Sendable {
    /// The client's host name (option 12): `provide`d, else the pod's or the container's.
    var hostName: String?
    /// Seconds the daemon may spend acquiring a lease.
    var timeout: Double?
    /// Option codes to request (the reference's `request` list, by code).
    var requestOptions: [UInt8] = []
    /// Options to send (the reference's `provide`): code and text value.
    var provideOptions: [(UInt8, [UInt8])] = []
    /// Ask for `requestOptions` alone, not for our defaults too (a `request` entry with
    /// `skipDefault`).
    var skipDefaultRequests = false
    /// `priority`: the metric of the routes the lease brings.
    var priority: UInt32?
    /// DHCPv4, DHCPv6 or both (`ipFamilies`; leased at once, a failure of either undoes both).
    var families: [LeaseFamily] = [.ipv4]
}
