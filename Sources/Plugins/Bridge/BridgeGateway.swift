import Addressing
import CNI
import Firewall
import Namespaces
import Netlink

#if canImport(Glibc)
    import Glibc
#endif

/// The bridge as the containers' gateway: its addresses, forwarding, the default route, and
/// the VLAN gateway link a `vlan` network needs.
extension BridgePlugin {
    /// isGateway: each family's gateway (IPAM's, or the subnet's first address) on the bridge,
    /// forwarding on; isDefaultGateway: a default route via it unless IPAM gave one. An address
    /// of another subnet of the family already on the bridge is an error unless forceAddress.
    func configureGateway(
        _ result: inout CNIResult, bridge: Link, _ config: BridgeConfig, _ netlink: any NetlinkSession
    ) throws {
        let gatewayLink = config.vlan == 0 ? bridge : try vlanGatewayLink(bridge: bridge, config, netlink)
        let existing = try netlink.addresses(interfaceIndex: gatewayLink.index)
        var families: Set<IPAddress.Family> = []
        for index in result.ips.indices {
            let ip = result.ips[index]
            let gateway = ip.gateway ?? ip.address.network.advanced(by: 1) ?? ip.address.network
            result.ips[index].gateway = gateway
            guard let gatewayPrefix = IPPrefix(address: gateway, prefixLength: ip.address.prefixLength) else {
                continue
            }
            families.insert(ip.address.family)
            if existing.contains(where: { $0.prefix == gatewayPrefix }) { continue }
            for other in existing
            where other.prefix.family == gatewayPrefix.family && other.scope == 0
                && other.prefix.subnet != gatewayPrefix.subnet && other.prefix.family == .v4
            {
                guard config.forceAddress else {
                    throw CNIError.invalidConfig(
                        "bridge \"\(config.bridge)\" already has address \(other.prefix), not in the subnet of gateway \(gatewayPrefix); set forceAddress to replace it"
                    )
                }
                try netlink.deleteAddress(other)
            }
            do {
                try netlink.addAddress(
                    InterfaceAddress(
                        interfaceIndex: gatewayLink.index, prefix: gatewayPrefix,
                        flags: gateway.family == .v6 ? InterfaceAddress.noDuplicateAddressDetection : 0))
            } catch {
                if error.errno != EEXIST { throw error }
            }
            if config.isDefaultGateway,
                !result.routes.contains(where: {
                    $0.destination.prefixLength == 0 && $0.destination.family == ip.address.family
                })
            {
                let zero = ip.address.family == .v4 ? IPAddress(v4: 0) : IPAddress(v6High: 0, low: 0)
                if let any = IPPrefix(address: zero, prefixLength: 0) {
                    result.routes.append(CNIResult.Route(destination: any, gateway: gateway))
                }
            }
        }
        if families.contains(.v4) { try host.writeHostSysctl("net/ipv4/ip_forward", "1") }
        if families.contains(.v6) { try host.writeHostSysctl("net/ipv6/conf/all/forwarding", "1") }
    }

    /// With an access VLAN, the gateway lives on `<bridge>.<vlan>`, a VLAN link on the bridge,
    /// with that VLAN added (tagged) to the bridge device itself, as the reference does. Made
    /// once per VLAN and shared by its containers; an existing one is reused.
    func vlanGatewayLink(bridge: Link, _ config: BridgeConfig, _ netlink: any NetlinkSession) throws -> Link {
        try host.holdingBridgeLock(config.bridge) { () throws -> Link in
            try makeVLANGatewayLink(bridge: bridge, config, netlink)
        }
    }

    private func makeVLANGatewayLink(bridge: Link, _ config: BridgeConfig, _ netlink: any NetlinkSession) throws -> Link
    {
        let name = "\(bridge.name).\(config.vlan)"
        guard name.utf8.count <= 15 else {
            throw CNIError.invalidConfig(
                "the gateway link \"\(name)\" for VLAN \(config.vlan) would be longer than 15 bytes: use a shorter bridge name"
            )
        }
        try netlink.addBridgeVLANs(index: bridge.index, [BridgeVLAN(config.vlan)], bridgeSelf: true)
        if try netlink.link(named: name) == nil {
            do {
                try netlink.createLink(LinkRequest(name: name, kind: .vlan(id: config.vlan), parentIndex: bridge.index))
            } catch {
                if error.errno == EOPNOTSUPP {
                    throw CNIError(
                        code: .kernelOperationFailed,
                        msg:
                            "the kernel does not support vlan (802.1Q) links, which a gateway on VLAN \(config.vlan) needs",
                        details: error.description)
                }
                if error.errno != EEXIST { throw error }
            }
        }
        guard let link = try netlink.link(named: name) else {
            throw CNIError(code: .tryAgainLater, msg: "gateway link \"\(name)\" vanished while being set up")
        }
        if !link.isUp { try netlink.setLink(index: link.index, up: true) }
        return link
    }

    /// The `<bridge>.<vlan>` gateway link is shared by the containers of its VLAN: the last DEL
    /// of that VLAN (no bridge port carries it any more) removes it and the VLAN from the bridge
    /// itself (the reference never does, #1175). Serialized with ADD's creation of it by a lock
    /// per bridge under /run/swift-cni.
    func removeUnusedVLANGateway(_ config: BridgeConfig, ignoringPort ignored: String?) throws {
        let netlink = try host.hostNetlink()
        guard let bridge = try netlink.link(named: config.bridge), bridge.kind == "bridge" else { return }
        let ignoredIndex = try ignored.flatMap { name throws(NetlinkError) in try netlink.link(named: name)?.index }
        try host.holdingBridgeLock(config.bridge) {
            let ports = try netlink.bridgeVLANs().filter {
                $0.masterIndex == bridge.index && $0.index != bridge.index && $0.index != ignoredIndex
            }
            guard !ports.contains(where: { $0.vlans.contains(config.vlan) }) else { return }
            if let gateway = try netlink.link(named: "\(config.bridge).\(config.vlan)"), gateway.kind == "vlan" {
                do {
                    try netlink.deleteLink(index: gateway.index)
                } catch {
                    if (error as? NetlinkError)?.isNotFound != true { throw error }
                }
            }
            do {
                try netlink.deleteBridgeVLANs(index: bridge.index, [BridgeVLAN(config.vlan)], bridgeSelf: true)
            } catch {
                let errno = (error as? NetlinkError)?.errno
                if errno != ENOENT && errno != EINVAL { throw error }
            }
        }
    }
}
