import Addressing
import CNI
import Firewall
import Namespaces
import Netlink
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// The bridge plugin: a Linux bridge on the host, a veth pair per container with the host end
/// a port of the bridge, the host as gateway, masquerade and MAC spoof check.
public struct BridgePlugin: CNIPlugin {
    /// What the plugin does to the system goes through its host (the kernel, or a test's fake).
    let host: any PluginHost
    public init(host: any PluginHost = SystemHost()) { self.host = host }
    public var about: String {
        "swift-cni bridge: a veth pair per container on a Linux bridge, with gateway, NAT, VLANs and spoof check"
    }

    /// The result lists the bridge, the host end and the container end, in that order (as
    /// the reference): the addresses belong to the container end, interface 2.
    static let containerInterfaceIndex = 2

    /// ADD, each step undone if a later one fails: bridge (made if missing; kept), veth pair
    /// with the container end created in the container as CNI_IFNAME, port settings and VLANs,
    /// IPAM, gateway address on the bridge and forwarding, container addresses and routes,
    /// masquerade, spoof check.
    public func add(_ request: CNIRequest) throws -> CNIResult {
        try host.holdingAttachmentLock(request, forDelete: false) { try addLocked(request) }
    }

    private func addLocked(_ request: CNIRequest) throws -> CNIResult {
        let config = try BridgeConfig(request)
        let env = request.environment
        let sessions = try ContainerInterface.Sessions(env, host: host)
        let (container, containerNetlink, hostNetlink) =
            (sessions.container, sessions.containerNetlink, sessions.hostNetlink)
        let bridge = try ensureBridge(config, hostNetlink)

        return try Rollback.guarding { rollback in
            let (hostVeth, containerLink) = try ContainerInterface.createVethPair(
                env, container: container, mtu: config.mtu, peerAddress: config.mac, hostNetlink: hostNetlink,
                containerNetlink: containerNetlink, host: host, rollback: &rollback)

            try attachPort(hostVeth, to: bridge, config, hostNetlink)
            try host.checkpoint("port")

            var result =
                try host.addIPAM(request, interfaceIndex: Self.containerInterfaceIndex, rollback: &rollback)
                ?? CNIResult(cniVersion: request.config.cniVersion)

            if config.isGateway {
                try configureGateway(&result, bridge: bridge, config, hostNetlink)
                try host.checkpoint("gateway")
            }

            let configuration = InterfaceConfiguration(
                netlink: containerNetlink, namespace: container, host: host, duplicateAddressDetection: config.enableDAD
            )
            if result.ips.isEmpty {
                if !config.disableContainerInterface {
                    try containerNetlink.setLink(index: containerLink.index, up: true)
                }
            } else {
                try configuration.apply(
                    result, interfaceIndexInResult: Self.containerInterfaceIndex, link: containerLink)
                if config.disableContainerInterface {
                    try containerNetlink.setLink(index: containerLink.index, up: false)
                }
            }

            let attachment = FirewallAttachment(
                network: request.config.name, containerID: env.containerID, ifName: env.ifName)
            if config.ipMasq, !result.ips.isEmpty {
                try host.addMasquerade(
                    request, addresses: result.ips.map(\.address), backend: config.ipMasqBackend, rollback: &rollback)
            }
            guard let finalContainer = try containerNetlink.link(index: containerLink.index) else {
                throw CNIError(
                    code: .kernelOperationFailed, msg: "veth end \"\(env.ifName)\" vanished from netns \(env.netns)")
            }
            if config.macSpoofCheck, let mac = finalContainer.address {
                let spoofCheck = host.spoofCheckFirewall()
                try spoofCheck.addSpoofCheck(attachment, hostInterface: hostVeth.name, mac: mac)
                rollback.add("remove the spoof check") { try spoofCheck.removeSpoofCheck(attachment) }
                try host.checkpoint("spoofcheck")
            }

            if let dns = config.dns, !dns.isEmpty { result.dns = dns }
            // Re-read: a bridge made by someone else, without a MAC of its own, may have taken
            // the new port's; the host veth's name and MAC do not change.
            let bridgeNow = try hostNetlink.link(index: bridge.index) ?? bridge
            result.interfaces = [
                CNIResult.Interface(name: bridgeNow.name, mac: bridgeNow.address?.description),
                CNIResult.Interface(name: hostVeth.name, mac: hostVeth.address?.description),
                CNIResult.Interface(
                    name: env.ifName, mac: finalContainer.address?.description, mtu: Int(finalContainer.mtu),
                    sandbox: env.netns),
            ]
            try result.ensurePrintable(for: request)
            return result
        }
    }

    /// The bridge, made if missing (EEXIST from a concurrent ADD is fine: it is looked up again)
    /// and brought up; an existing link of that name that is not a bridge is an error (code 7).
    func ensureBridge(_ config: BridgeConfig, _ netlink: any NetlinkSession) throws -> Link {
        var bridge = try netlink.link(named: config.bridge)
        if bridge == nil {
            do {
                // A fixed MAC: otherwise the bridge takes its lowest port's, and changes under CHECK.
                try netlink.createBridge(
                    name: config.bridge, mtu: config.mtu == 0 ? nil : config.mtu,
                    address: .randomLocal(), vlanFiltering: config.usesVLANs)
            } catch {
                // EEXIST: a concurrent ADD made it first; it is looked up below.
                if error.errno != EEXIST { throw Self.explainBridgeFailure(error, config) }
            }
            bridge = try netlink.link(named: config.bridge)
        }
        guard let found = bridge else {
            throw CNIError(code: .tryAgainLater, msg: "bridge \"\(config.bridge)\" vanished while being set up")
        }
        guard found.kind == "bridge" else {
            throw CNIError.invalidConfig(
                "\"\(config.bridge)\" already exists but is not a bridge (it is a \(found.kind ?? "device without a kind"))"
            )
        }
        if config.usesVLANs {
            do {
                try netlink.setBridge(index: found.index, vlanFiltering: true)
            } catch {
                throw Self.explainBridgeFailure(error, config)
            }
        }
        if config.promiscMode, !found.isPromiscuous { try netlink.setLink(index: found.index, promiscuous: true) }
        if !found.isUp { try netlink.setLink(index: found.index, up: true) }
        return found
    }

    /// EOPNOTSUPP when VLAN filtering is asked for: the kernel lacks CONFIG_BRIDGE_VLAN_FILTERING.
    static func explainBridgeFailure(_ error: NetlinkError, _ config: BridgeConfig) -> any Error {
        if error.errno == EOPNOTSUPP && config.usesVLANs {
            return CNIError(
                code: .kernelOperationFailed,
                msg: "the kernel does not support bridge VLAN filtering, which \"vlan\"/\"vlanTrunk\" need",
                details: error.description)
        }
        return error
    }

    /// Enslaves the host veth, sets hairpin/isolation, programs the VLANs, brings it up.
    func attachPort(_ port: Link, to bridge: Link, _ config: BridgeConfig, _ netlink: any NetlinkSession) throws {
        try netlink.setLink(index: port.index, masterIndex: bridge.index)
        if config.hairpinMode || config.portIsolation {
            try netlink.setBridgePort(
                index: port.index,
                BridgePortSettings(
                    hairpin: config.hairpinMode ? true : nil,
                    isolated: config.portIsolation ? true : nil))
        }
        if config.usesVLANs {
            if !config.preserveDefaultVlan { try netlink.deleteBridgeVLANs(index: port.index, [BridgeVLAN(1)]) }
            var vlans: [BridgeVLAN] = []
            if config.vlan != 0 { vlans.append(BridgeVLAN(config.vlan, pvid: true, untagged: true)) }
            vlans += config.vlanTrunk.map { BridgeVLAN(first: $0.first, last: $0.last) }
            try netlink.addBridgeVLANs(index: port.index, vlans)
        }
        try netlink.setLink(index: port.index, up: true)
    }

    /// DEL: IPAM DEL, the masquerade and spoof-check rules (also when the netns is gone or
    /// CNI_NETNS is empty: the reference leaks them there), then the container's veth.
    public func delete(_ request: CNIRequest) throws {
        try host.holdingAttachmentLock(request, forDelete: true) { try deleteLocked(request) }
    }

    private func deleteLocked(_ request: CNIRequest) throws {
        let config = try BridgeConfig(request)
        let env = request.environment
        _ = try host.runIPAM(.delete, request)
        let attachment = FirewallAttachment(
            network: request.config.name, containerID: env.containerID, ifName: env.ifName)
        if config.ipMasq { try host.removeMasquerade(request) }
        if config.macSpoofCheck, let spoofCheck = host.installedSpoofCheckFirewall() {
            try spoofCheck.removeSpoofCheck(attachment)
        }
        try ContainerInterface.delete(env, kind: "veth", host: host)
        if config.isGateway && config.vlan != 0 {
            // The host end named in prevResult (runtimes send it from 0.4.0) may outlive a deleted
            // netns for a moment (the kernel tears namespaces down asynchronously): not a user.
            let hostEnd = request.config.prevResult?.interfaces.first {
                $0.sandbox == nil && !ExactName.equal($0.name, config.bridge)
            }?
            .name
            try removeUnusedVLANGateway(config, ignoringPort: hostEnd)
        }
    }

    /// CHECK: the bridge exists with prevResult's MAC, the container veth's peer is one of its
    /// ports, addresses and routes are in place; IPAM CHECK.
    public func check(_ request: CNIRequest) throws {
        let config = try BridgeConfig(request)
        guard let previous = request.config.prevResult else {
            throw CNIError.invalidConfig("required prevResult missing")
        }
        let env = request.environment
        _ = try host.runIPAM(.check, request)
        let hostNetlink = try host.hostNetlink()
        guard let bridge = try hostNetlink.link(named: config.bridge), bridge.kind == "bridge" else {
            throw CNIError(code: .checkFailed, msg: "bridge \"\(config.bridge)\" is missing")
        }
        if let recorded = previous.interfaces.first(where: {
            ExactName.equal($0.name, config.bridge) && $0.sandbox == nil
        }),
            let mac = recorded.mac, MACAddress(mac) != bridge.address
        {
            throw CNIError(
                code: .checkFailed,
                msg:
                    "bridge \"\(config.bridge)\" has MAC \(bridge.address?.description ?? "none"), prevResult says \(mac)"
            )
        }
        guard
            let interfaceIndex = previous.interfaces.firstIndex(where: {
                ExactName.equal($0.name, env.ifName) && $0.sandbox == env.netns
            })
        else {
            throw CNIError(code: .checkFailed, msg: "prevResult has no interface \"\(env.ifName)\" in \(env.netns)")
        }
        let container = try host.openNamespace(env.netns)
        let netlink = try container.netlink()
        guard let link = try netlink.link(named: env.ifName), link.kind == "veth" else {
            throw CNIError(code: .checkFailed, msg: "veth \"\(env.ifName)\" not found in netns \(env.netns)")
        }
        guard let peerIndex = link.parentIndex, let peer = try hostNetlink.link(index: peerIndex), peer.kind == "veth",
            peer.masterIndex == bridge.index
        else {
            throw CNIError(
                code: .checkFailed, msg: "the peer of \"\(env.ifName)\" is not a port of bridge \"\(config.bridge)\"")
        }
        // As the reference: the container's MAC, and the host end's name and MAC, are the
        // ones prevResult recorded.
        if let mac = previous.interfaces[interfaceIndex].mac, MACAddress(mac) != link.address {
            throw CNIError(
                code: .checkFailed,
                msg:
                    "interface \"\(env.ifName)\" has MAC \(link.address?.description ?? "none"), prevResult says \(mac)"
            )
        }
        let hostEnds = previous.interfaces.filter {
            ($0.sandbox ?? "").isEmpty && !ExactName.equal($0.name, config.bridge)
        }
        if !hostEnds.isEmpty {
            guard let recorded = hostEnds.first(where: { ExactName.equal($0.name, peer.name) }) else {
                throw CNIError(
                    code: .checkFailed,
                    msg:
                        "the host end of \"\(env.ifName)\" is \"\(peer.name)\", prevResult says \(hostEnds.map { "\"\($0.name)\"" }.joined(separator: ", "))"
                )
            }
            if let mac = recorded.mac, MACAddress(mac) != peer.address {
                throw CNIError(
                    code: .checkFailed,
                    msg:
                        "host veth \"\(peer.name)\" has MAC \(peer.address?.description ?? "none"), prevResult says \(mac)"
                )
            }
        }
        try InterfaceConfiguration(netlink: netlink, namespace: container, host: host).verify(
            previous, interfaceIndexInResult: interfaceIndex, link: link)
    }

    /// GC: removes the masquerade objects of this network's attachments that are not valid
    /// (in every installed backend, the reference's and our 0.1.0 formats), then forwards to IPAM.
    public func garbageCollect(_ request: CNIRequest) throws {
        _ = try BridgeConfig(request)
        try host.collectMasqueradeGarbage(request)
        _ = try host.runIPAM(.garbageCollect, request)
    }

    /// STATUS: code 50 when the firewall the config needs cannot be used; then IPAM's.
    public func status(_ request: CNIRequest) throws {
        let config = try BridgeConfig(request)
        var needed: [(name: String, unusableReason: String?)] = []
        if config.ipMasq {
            let firewall = host.masqueradeFirewall(config.ipMasqBackend)
            needed.append((firewall.name, firewall.unusableReason()))
        }
        if config.macSpoofCheck {
            let firewall = host.spoofCheckFirewall()
            needed.append((firewall.name, firewall.unusableReason()))
        }
        try host.requireUsable(needed)
        _ = try host.runIPAM(.status, request)
    }
}
