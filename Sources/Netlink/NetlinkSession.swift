import Addressing

/// The rtnetlink operations the plugins use, in one namespace: `RouteNetlink` sends them to the
/// kernel; a plugin host's fake answers them from a model in tests. Each requirement is
/// documented on `RouteNetlink`'s implementation with the message it sends; the errors are the
/// kernel's (`NetlinkError` with its errno).
public protocol NetlinkSession: AnyObject {
    func link(named name: String) throws(NetlinkError) -> Link?
    func link(index: Int32) throws(NetlinkError) -> Link?
    func createLink(_ linkRequest: LinkRequest) throws(NetlinkError)
    func deleteLink(index: Int32) throws(NetlinkError)
    /// A delete that returns once the link is out of its namespace, not once the kernel has
    /// released it (a DEL's last step; `RouteNetlink`'s says how).
    func deleteLinkWithoutWaitingForRelease(index: Int32) throws(NetlinkError)
    func renameLink(index: Int32, to name: String) throws(NetlinkError)
    func setLink(index: Int32, up: Bool) throws(NetlinkError)
    func setLink(index: Int32, mtu: UInt32) throws(NetlinkError)
    func setLink(index: Int32, promiscuous: Bool) throws(NetlinkError)
    func setLink(index: Int32, masterIndex: Int32) throws(NetlinkError)
    func addAddress(_ address: InterfaceAddress) throws(NetlinkError)
    func deleteAddress(_ address: InterfaceAddress) throws(NetlinkError)
    func addresses(interfaceIndex: Int32?, family: IPAddress.Family?) throws(NetlinkError) -> [InterfaceAddress]
    func addRoute(_ route: Route) throws(NetlinkError)
    func routes(family: IPAddress.Family, table: UInt32?, outputInterfaceIndex: Int32?) throws(NetlinkError) -> [Route]
    func createBridge(name: String, mtu: UInt32?, address: MACAddress?, vlanFiltering: Bool) throws(NetlinkError)
    func setBridge(index: Int32, vlanFiltering: Bool) throws(NetlinkError)
    func setBridgePort(index: Int32, _ settings: BridgePortSettings) throws(NetlinkError)
    func addBridgeVLANs(index: Int32, _ vlans: [BridgeVLAN], bridgeSelf: Bool) throws(NetlinkError)
    func deleteBridgeVLANs(index: Int32, _ vlans: [BridgeVLAN], bridgeSelf: Bool) throws(NetlinkError)
    func bridgeVLANs() throws(NetlinkError) -> [(index: Int32, masterIndex: Int32?, vlans: [UInt16])]
}

extension RouteNetlink: NetlinkSession {}

extension NetlinkSession {
    /// A model's delete is immediate: `deleteLink(index:)`.
    public func deleteLinkWithoutWaitingForRelease(index: Int32) throws(NetlinkError) {
        try deleteLink(index: index)
    }

    /// Addresses of one interface (every family).
    public func addresses(interfaceIndex: Int32) throws(NetlinkError) -> [InterfaceAddress] {
        try addresses(interfaceIndex: interfaceIndex, family: nil)
    }

    /// Routes of one family, optionally of one table.
    public func routes(family: IPAddress.Family, table: UInt32? = nil) throws(NetlinkError) -> [Route] {
        try routes(family: family, table: table, outputInterfaceIndex: nil)
    }

    /// A bridge named `name`, without VLAN filtering unless asked.
    public func createBridge(name: String, mtu: UInt32?, address: MACAddress?) throws(NetlinkError) {
        try createBridge(name: name, mtu: mtu, address: address, vlanFiltering: false)
    }

    /// VLANs of a bridge port (`bridgeSelf` false).
    public func addBridgeVLANs(index: Int32, _ vlans: [BridgeVLAN]) throws(NetlinkError) {
        try addBridgeVLANs(index: index, vlans, bridgeSelf: false)
    }

    /// VLANs of a bridge port (`bridgeSelf` false).
    public func deleteBridgeVLANs(index: Int32, _ vlans: [BridgeVLAN]) throws(NetlinkError) {
        try deleteBridgeVLANs(index: index, vlans, bridgeSelf: false)
    }
}
