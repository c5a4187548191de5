import Addressing
import CNI
import Firewall
import Namespaces
import Netlink
import POSIX
import Plugins

#if canImport(Glibc)
    import Glibc
#endif

/// A model of the kernel and the rest of a node, for testing plugins' decisions without root:
/// namespaces with links, addresses, routes and bridge VLANs; the IPAM's reservations; the
/// firewall's objects. Every call a plugin makes through its `PluginHost` is answered from the
/// model and written to `log` as "<namespace> <operation> <details>" (the host namespace is
/// "host"), so a test can assert what was asked, where, and in which order.
///
/// A test makes the `failingMutation`-th state-changing call fail (the kernel answers `errno`;
/// IPAM and firewall calls fail with their own error type), which is how rollback is tested at
/// every step.
public final class FakeNode {
    /// IFF_UP and IFF_PROMISC from <linux/if.h>.
    public static let up: UInt32 = 0x1, promiscuous: UInt32 = 0x100

    public struct Namespace: Equatable {
        public var links: [Link] = []
        public var addresses: [InterfaceAddress] = []
        public var routes: [Route] = []
        public var sysctls: [String: String] = [:]
        /// VLANs per link index (bridge ports and, with `bridgeSelf`, the bridge).
        public var vlans: [Int32: Set<UInt16>] = [:]
        /// Qdiscs per link index (none: the kernel's default), and ingress redirects to a link.
        public var qdiscs: [Int32: [Qdisc]] = [:]
        public var redirects: [Int32: Int32] = [:]
    }

    /// What a test compares before and after: everything but sysctls, which an ADD sets and no
    /// rollback resets (as the reference).
    public struct State: Equatable {
        public var links: [String: [String]]
        public var addresses: [String: [String]]
        public var routes: [String: [String]]
        public var vlans: [String: [String]]
        public var trafficControl: [String: [String]]
        public var reservations: [String]
        public var masquerades: [String]
        public var spoofChecks: [String]
    }

    public var namespaces: [String: Namespace] = ["host": Namespace()]
    /// IFLA_NET_NS_FD values handed out by `openNamespace`, to their namespace.
    public var descriptors: [Int32: String] = [:]
    public var log: [String] = []
    public var nextIndex: Int32 = 10
    /// The IPAM's result for ADD (nil: the IPAM returns no result).
    public var ipamResult: CNIResult?
    /// IPAM reservations held, as "containerID/ifName".
    public var reservations: Set<String> = []
    /// Masquerades per "backend attachment", spoof checks per attachment.
    public var masquerades: [String: [IPPrefix]] = [:]
    public var spoofChecks: Set<String> = []
    public var installedFirewalls = ["iptables", "nftables"]
    /// The masquerade backend picked when the config names none.
    public var defaultFirewall = "iptables"

    /// 1-based number of the state-changing call to fail, and what it fails with.
    public var failingMutation: Int?
    public var failureErrno: Int32 = EIO
    /// Errors for particular calls, by the start of their log line ("host newlink mv").
    public var scriptedErrors: [(prefix: String, errno: Int32)] = []
    public private(set) var mutations = 0

    public init() {}

    /// A namespace for CNI_NETNS, with `lo` (down).
    @discardableResult
    public func addNamespace(_ path: String) -> String {
        namespaces[path] = Namespace()
        addLink(Link(index: 1, name: "lo", mtu: 65536), in: path)
        return path
    }

    @discardableResult
    public func addLink(_ link: Link, in namespace: String = "host") -> Link {
        var link = link
        if link.index == 0 {
            link.index = nextIndex
            nextIndex += 1
        }
        namespaces[namespace, default: Namespace()].links.append(link)
        return link
    }

    public func link(_ name: String, in namespace: String = "host") -> Link? {
        namespaces[namespace]?.links.first { $0.name == name }
    }

    /// The host's uplink `eth0` (index 2, up, 10.0.0.2/24) with a default route via 10.0.0.1.
    public func addUplink() {
        let uplink = addLink(
            Link(index: 2, name: "eth0", flags: Self.up, mtu: 1500, address: MACAddress("02:00:00:00:00:02")))
        namespaces["host"]!.addresses.append(
            InterfaceAddress(interfaceIndex: uplink.index, prefix: IPPrefix("10.0.0.2/24")!))
        namespaces["host"]!.routes.append(
            Route(
                destination: IPPrefix("0.0.0.0/0")!, gateway: IPAddress("10.0.0.1"),
                outputInterfaceIndex: uplink.index))
    }

    public var state: State {
        func perNamespace(_ render: (Namespace) -> [String]) -> [String: [String]] {
            namespaces.mapValues(render).filter { !$0.value.isEmpty }
        }
        return State(
            links: perNamespace { ns in
                ns.links.map { "\($0.name) \($0.kind ?? "-") up=\($0.isUp) master=\($0.masterIndex ?? 0)" }.sorted()
            },
            addresses: perNamespace { ns in ns.addresses.map { "\($0.interfaceIndex) \($0.prefix)" }.sorted() },
            routes: perNamespace { ns in
                ns.routes.map { "\($0.destination) \($0.gateway?.description ?? "-") \($0.outputInterfaceIndex ?? 0)" }
                    .sorted()
            },
            vlans: perNamespace { ns in ns.vlans.map { "\($0.key) \($0.value.sorted())" }.sorted() },
            trafficControl: perNamespace { ns in
                ns.qdiscs.flatMap { entry in entry.value.map { "\(entry.key) \($0.kind) \($0.handle)" } }.sorted()
                    + ns.redirects.map { "\($0.key) redirect \($0.value)" }.sorted()
            },
            reservations: reservations.sorted(), masquerades: masquerades.keys.sorted(),
            spoofChecks: spoofChecks.sorted())
    }

    /// The log lines that changed something, in order.
    public var mutationLog: [String] {
        log.filter {
            !$0.contains(" get") && !$0.hasPrefix("open ") && !$0.hasPrefix("lock ") && !$0.hasPrefix("unlock ")
        }
    }

    /// Counts a state-changing call and fails it when the test asked for that one (or scripted
    /// an error for it): returns the errno to fail with.
    public func mutate(_ entry: String) -> Int32? {
        mutations += 1
        if mutations == failingMutation {
            log.append(entry + " -> failed")
            return failureErrno
        }
        if let scripted = scriptedErrors.first(where: { entry.hasPrefix($0.prefix) }) {
            log.append(entry + " -> errno \(scripted.errno)")
            return scripted.errno
        }
        log.append(entry)
        return nil
    }
}

/// `PluginHost` over a `FakeNode`.
public struct FakeHost: PluginHost, TrafficControlHost {
    public let node: FakeNode

    public init(node: FakeNode) { self.node = node }

    public func openNamespace(_ path: String) throws -> any ContainerNamespace {
        node.log.append("open \(path)")
        guard node.namespaces[path] != nil else { throw NamespaceError.notFound(path: path) }
        let descriptor = Int32(100 + node.descriptors.count)
        node.descriptors[descriptor] = path
        return FakeNamespace(node: node, path: path, fileDescriptor: FileDescriptor(rawValue: descriptor))
    }

    public func hostNetlink() throws -> any NetlinkSession { FakeNetlink(node: node, namespace: "host") }

    public func hostTrafficShaping() throws -> any TrafficShaping { FakeNetlink(node: node, namespace: "host") }

    public func writeHostSysctl(_ key: String, _ value: String) throws {
        try FakeNamespace.write(key, value, in: "host", node)
    }

    public func runIPAM(_ command: CNICommand, _ request: CNIRequest) throws -> CNIResult? {
        guard let type = request.config.ipamType else { return nil }
        let key = "\(request.environment.containerID)/\(request.environment.ifName)"
        switch command {
        case .add:
            if node.mutate("ipam \(type) ADD \(key)") != nil {
                throw CNIError(code: .delegateFailed, msg: "IPAM ADD failed")
            }
            node.reservations.insert(key)
            return node.ipamResult
        case .delete:
            if node.mutate("ipam \(type) DEL \(key)") != nil {
                throw CNIError(code: .delegateFailed, msg: "IPAM DEL failed")
            }
            node.reservations.remove(key)
        default:
            node.log.append("ipam \(type) \(command.rawValue) \(key) (get)")
        }
        return nil
    }

    public func masqueradeFirewall(_ backend: MasqueradeBackend?) -> any FirewallBackend {
        switch backend {
        case .iptables: FakeFirewall(node: node, name: "iptables")
        case .nftables: FakeFirewall(node: node, name: "nftables")
        case nil: FakeFirewall(node: node, name: node.defaultFirewall)
        }
    }

    public func installedMasqueradeFirewalls() -> [any FirewallBackend] {
        node.installedFirewalls.map { FakeFirewall(node: node, name: $0) }
    }

    public func spoofCheckFirewall() -> any SpoofCheckFirewall { FakeFirewall(node: node, name: "nftables") }

    public func installedSpoofCheckFirewall() -> (any SpoofCheckFirewall)? {
        node.installedFirewalls.contains("nftables") ? FakeFirewall(node: node, name: "nftables") : nil
    }

    public func holdingAttachmentLock<T>(_ request: CNIRequest, forDelete: Bool, _ body: () throws -> T) throws -> T {
        node.log.append("lock attachment")
        defer { node.log.append("unlock attachment") }
        return try body()
    }

    public func holdingBridgeLock<T>(_ bridge: String, _ body: () throws -> T) throws -> T {
        node.log.append("lock bridge \(bridge)")
        defer { node.log.append("unlock bridge \(bridge)") }
        return try body()
    }

    public func checkpoint(_ step: String) throws {}
}

public final class FakeNamespace: ContainerNamespace {
    public let node: FakeNode
    public let path: String
    public let fileDescriptor: FileDescriptor

    public init(node: FakeNode, path: String, fileDescriptor: FileDescriptor) {
        self.node = node
        self.path = path
        self.fileDescriptor = fileDescriptor
    }

    public func netlink() throws -> any NetlinkSession { FakeNetlink(node: node, namespace: path) }

    public func writeSysctls(_ writes: [SysctlWrite]) throws {
        for write in writes {
            do {
                try Self.write(write.key, write.value, in: path, node)
            } catch let error as SysctlError where write.mayBeMissing && error.errno == ENOENT {}
        }
    }

    /// A per-interface key of an interface that does not exist, or an IPv6 key when the node
    /// has `ipv6Disabled`, is ENOENT, as /proc/sys answers.
    public static func write(_ key: String, _ value: String, in namespace: String, _ node: FakeNode) throws {
        let parts = key.split(separator: "/")
        if parts.count >= 4, parts[2] == "conf", !["all", "default"].contains(parts[3]),
            node.namespaces[namespace]?.links.contains(where: { $0.name == parts[3] }) != true
        {
            node.log.append("\(namespace) sysctl \(key)=\(value) -> ENOENT")
            throw SysctlError(key: key, operation: "open", errno: ENOENT)
        }
        if let errno = node.mutate("\(namespace) sysctl \(key)=\(value)") {
            throw SysctlError(key: key, operation: "write", errno: errno)
        }
        node.namespaces[namespace]?.sysctls[key] = value
    }
}

public final class FakeFirewall: FirewallBackend, SpoofCheckFirewall {
    public let node: FakeNode
    public let name: String

    public init(node: FakeNode, name: String) {
        self.node = node
        self.name = name
    }

    public func unusableReason() -> String? {
        node.installedFirewalls.contains(name) ? nil : "\(name) is not installed"
    }

    private func key(_ attachment: FirewallAttachment) -> String {
        "\(name) \(attachment.network)/\(attachment.containerID)/\(attachment.ifName)"
    }

    public func addMasquerade(_ attachment: FirewallAttachment, addresses: [IPPrefix]) throws(FirewallError) {
        if node.mutate("firewall masquerade add \(key(attachment))") != nil {
            throw FirewallError(tool: name, operation: "add masquerade", output: "failed")
        }
        node.masquerades[key(attachment)] = addresses
    }

    public func removeMasquerade(_ attachment: FirewallAttachment) throws(FirewallError) {
        if node.mutate("firewall masquerade remove \(key(attachment))") != nil {
            throw FirewallError(tool: name, operation: "remove masquerade", output: "failed")
        }
        node.masquerades[key(attachment)] = nil
    }

    public func collectGarbage(network: String, valid: Set<FirewallAttachment>) throws(FirewallError) {
        _ = node.mutate("firewall gc \(name) \(network) keeping \(valid.count)")
        for key in node.masquerades.keys where key.hasPrefix("\(name) \(network)/") {
            if !valid.contains(where: { self.key($0) == key }) { node.masquerades[key] = nil }
        }
    }

    public func addSpoofCheck(_ attachment: FirewallAttachment, hostInterface: String, mac: MACAddress)
        throws(FirewallError)
    {
        if node.mutate("firewall spoofcheck add \(key(attachment)) on \(hostInterface) \(mac)") != nil {
            throw FirewallError(tool: name, operation: "add spoof check", output: "failed")
        }
        node.spoofChecks.insert(key(attachment))
    }

    public func removeSpoofCheck(_ attachment: FirewallAttachment) throws(FirewallError) {
        if node.mutate("firewall spoofcheck remove \(key(attachment))") != nil {
            throw FirewallError(tool: name, operation: "remove spoof check", output: "failed")
        }
        node.spoofChecks.remove(key(attachment))
    }
}

/// A netlink session in one namespace of a `FakeNode`, answering as the kernel would: ENODEV
/// for a missing link, EEXIST for a taken name, a veth's peer made and removed with it, a
/// link's addresses and routes removed with it.
public final class FakeNetlink: TrafficShaping {
    public let node: FakeNode
    public let namespace: String

    public init(node: FakeNode, namespace: String) {
        self.node = node
        self.namespace = namespace
    }

    private var space: FakeNode.Namespace {
        get { node.namespaces[namespace] ?? FakeNode.Namespace() }
        set { node.namespaces[namespace] = newValue }
    }

    private func fail(_ operation: String, _ errno: Int32) -> NetlinkError {
        NetlinkError(operation: operation, errno: errno)
    }

    private func change(_ entry: String) throws(NetlinkError) {
        if let errno = node.mutate("\(namespace) \(entry)") { throw fail(entry, errno) }
    }

    private func name(_ index: Int32) -> String { space.links.first { $0.index == index }?.name ?? "#\(index)" }

    private func modify(_ index: Int32, _ operation: String, _ body: (inout Link) -> Void) throws(NetlinkError) {
        guard let position = space.links.firstIndex(where: { $0.index == index }) else { throw fail(operation, ENODEV) }
        try change(operation)
        body(&space.links[position])
    }

    public func link(named name: String) throws(NetlinkError) -> Link? {
        node.log.append("\(namespace) getlink \(name)")
        return space.links.first { $0.name == name }
    }

    public func link(index: Int32) throws(NetlinkError) -> Link? {
        node.log.append("\(namespace) getlink #\(index)")
        return space.links.first { $0.index == index }
    }

    public func createLink(_ request: LinkRequest) throws(NetlinkError) {
        let target = request.namespaceFD.flatMap { node.descriptors[$0.rawValue] } ?? namespace
        var entry = "newlink \(request.name) \(request.kind.name)"
        if let parent = request.parentIndex { entry += " on \(name(parent))" }
        if target != namespace { entry += " in \(target)" }
        if case .veth(let peer, let peerFD, _) = request.kind {
            entry += " peer \(peer)" + (peerFD.flatMap { node.descriptors[$0.rawValue] }.map { " in \($0)" } ?? "")
        }
        if let parent = request.parentIndex, !space.links.contains(where: { $0.index == parent }) {
            throw fail(entry, ENODEV)
        }
        if node.namespaces[target]?.links.contains(where: { $0.name == request.name }) == true {
            throw fail(entry, EEXIST)
        }
        try change(entry)
        var link = Link(
            index: 0, name: request.name, mtu: request.mtu ?? parentMTU(request.parentIndex),
            address: request.address
                ?? MACAddress(bytes: [0x02, 0, 0, 0, 0, UInt8(truncatingIfNeeded: node.nextIndex)]),
            kind: request.kind.name, parentIndex: request.parentIndex)
        switch request.kind {
        case .macvlan(let mode, _): link.macvlanMode = mode
        case .ipvlan(let mode, let flags):
            link.ipvlanMode = mode
            link.ipvlanFlags = flags
        case .vlan(let id): link.vlanID = id
        case .bridge, .ifb: break
        case .veth(let peerName, let peerFD, let peerAddress):
            let peerSpace = peerFD.flatMap { node.descriptors[$0.rawValue] } ?? namespace
            let made = node.addLink(link, in: target)
            let peer = node.addLink(
                Link(
                    index: 0, name: peerName, mtu: link.mtu,
                    address: peerAddress
                        ?? MACAddress(bytes: [0x02, 0, 0, 0, 1, UInt8(truncatingIfNeeded: node.nextIndex)]),
                    kind: "veth", parentIndex: made.index), in: peerSpace)
            setParent(of: made.index, in: target, to: peer.index)
            return
        }
        node.addLink(link, in: target)
    }

    private func parentMTU(_ index: Int32?) -> UInt32 {
        index.flatMap { index in space.links.first { $0.index == index }?.mtu } ?? 1500
    }

    private func setParent(of index: Int32, in namespace: String, to parent: Int32) {
        guard let position = node.namespaces[namespace]?.links.firstIndex(where: { $0.index == index }) else { return }
        node.namespaces[namespace]?.links[position].parentIndex = parent
    }

    public func createBridge(name: String, mtu: UInt32?, address: MACAddress?, vlanFiltering: Bool) throws(NetlinkError)
    {
        let entry = "newlink \(name) bridge" + (vlanFiltering ? " vlan_filtering" : "")
        if space.links.contains(where: { $0.name == name }) { throw fail(entry, EEXIST) }
        try change(entry)
        node.addLink(Link(index: 0, name: name, mtu: mtu ?? 1500, address: address, kind: "bridge"), in: namespace)
    }

    public func deleteLink(index: Int32) throws(NetlinkError) {
        guard let link = space.links.first(where: { $0.index == index }) else {
            throw fail("dellink #\(index)", ENODEV)
        }
        try change("dellink \(link.name)")
        remove(index, from: namespace)
        if link.kind == "veth", let peer = link.parentIndex {
            for (other, content) in node.namespaces
            where content.links.contains(where: { $0.index == peer && $0.parentIndex == index }) {
                remove(peer, from: other)
            }
        }
    }

    private func remove(_ index: Int32, from namespace: String) {
        node.namespaces[namespace]?.links.removeAll { $0.index == index }
        node.namespaces[namespace]?.addresses.removeAll { $0.interfaceIndex == index }
        node.namespaces[namespace]?.routes.removeAll { $0.outputInterfaceIndex == index }
        node.namespaces[namespace]?.vlans[index] = nil
        node.namespaces[namespace]?.qdiscs[index] = nil
        node.namespaces[namespace]?.redirects[index] = nil
    }

    public func renameLink(index: Int32, to newName: String) throws(NetlinkError) {
        if space.links.contains(where: { $0.name == newName }) {
            throw fail("rename \(name(index)) \(newName)", EEXIST)
        }
        try modify(index, "rename \(name(index)) \(newName)") { $0.name = newName }
    }

    public func setLink(index: Int32, up: Bool) throws(NetlinkError) {
        try modify(index, "\(up ? "up" : "down") \(name(index))") {
            $0.flags = up ? $0.flags | FakeNode.up : $0.flags & ~FakeNode.up
        }
    }

    public func setLink(index: Int32, mtu: UInt32) throws(NetlinkError) {
        try modify(index, "mtu \(name(index)) \(mtu)") { $0.mtu = mtu }
    }

    public func setLink(index: Int32, promiscuous: Bool) throws(NetlinkError) {
        try modify(index, "promisc \(name(index)) \(promiscuous)") {
            $0.flags = promiscuous ? $0.flags | FakeNode.promiscuous : $0.flags & ~FakeNode.promiscuous
        }
    }

    public func setLink(index: Int32, masterIndex: Int32) throws(NetlinkError) {
        guard space.links.contains(where: { $0.index == masterIndex }) else {
            throw fail("master \(name(index))", ENODEV)
        }
        try modify(index, "master \(name(index)) \(name(masterIndex))") { $0.masterIndex = masterIndex }
    }

    public func addAddress(_ address: InterfaceAddress) throws(NetlinkError) {
        let entry = "newaddr \(name(address.interfaceIndex)) \(address.prefix)"
        guard space.links.contains(where: { $0.index == address.interfaceIndex }) else { throw fail(entry, ENODEV) }
        if space.addresses.contains(where: {
            $0.interfaceIndex == address.interfaceIndex && $0.prefix == address.prefix
        }) {
            throw fail(entry, EEXIST)
        }
        try change(entry)
        space.addresses.append(address)
    }

    public func deleteAddress(_ address: InterfaceAddress) throws(NetlinkError) {
        let entry = "deladdr \(name(address.interfaceIndex)) \(address.prefix)"
        guard
            space.addresses.contains(where: {
                $0.interfaceIndex == address.interfaceIndex && $0.prefix == address.prefix
            })
        else {
            throw fail(entry, EADDRNOTAVAIL)
        }
        try change(entry)
        space.addresses.removeAll { $0.interfaceIndex == address.interfaceIndex && $0.prefix == address.prefix }
    }

    public func addresses(interfaceIndex: Int32?, family: IPAddress.Family?) throws(NetlinkError) -> [InterfaceAddress]
    {
        node.log.append("\(namespace) getaddr \(interfaceIndex.map(name) ?? "all")")
        return space.addresses.filter {
            (interfaceIndex == nil || $0.interfaceIndex == interfaceIndex)
                && (family == nil || $0.prefix.family == family)
        }
    }

    public func addRoute(_ route: Route) throws(NetlinkError) {
        let entry =
            "newroute \(route.destination)" + (route.gateway.map { " via \($0)" } ?? "")
            + (route.outputInterfaceIndex.map { " dev \(name($0))" } ?? "")
        if let index = route.outputInterfaceIndex, !space.links.contains(where: { $0.index == index }) {
            throw fail(entry, ENODEV)
        }
        if space.routes.contains(where: {
            $0.destination == route.destination && $0.table == route.table && $0.priority == route.priority
        }) {
            throw fail(entry, EEXIST)
        }
        try change(entry)
        space.routes.append(route)
    }

    public func routes(family: IPAddress.Family, table: UInt32?, outputInterfaceIndex: Int32?) throws(NetlinkError)
        -> [Route]
    {
        node.log.append("\(namespace) getroute \(family)")
        return space.routes.filter {
            $0.destination.family == family && (table == nil || $0.table == table)
                && (outputInterfaceIndex == nil || $0.outputInterfaceIndex == outputInterfaceIndex)
        }
    }

    public func setBridge(index: Int32, vlanFiltering: Bool) throws(NetlinkError) {
        try modify(index, "vlan_filtering \(name(index)) \(vlanFiltering)") { _ in }
    }

    public func setBridgePort(index: Int32, _ settings: BridgePortSettings) throws(NetlinkError) {
        try modify(
            index,
            "brport \(name(index)) hairpin=\(settings.hairpin.map(String.init) ?? "-") isolated=\(settings.isolated.map(String.init) ?? "-")"
        ) { _ in }
    }

    public func addBridgeVLANs(index: Int32, _ vlans: [BridgeVLAN], bridgeSelf: Bool) throws(NetlinkError) {
        let ids = vlans.flatMap { Array($0.first...$0.last) }
        try modify(index, "addvlans \(name(index)) \(ids)\(bridgeSelf ? " self" : "")") { _ in }
        space.vlans[index, default: []].formUnion(ids)
    }

    public func deleteBridgeVLANs(index: Int32, _ vlans: [BridgeVLAN], bridgeSelf: Bool) throws(NetlinkError) {
        let ids = vlans.flatMap { Array($0.first...$0.last) }
        try modify(index, "delvlans \(name(index)) \(ids)\(bridgeSelf ? " self" : "")") { _ in }
        space.vlans[index, default: []].subtract(ids)
        if space.vlans[index]?.isEmpty == true { space.vlans[index] = nil }
    }

    public func bridgeVLANs() throws(NetlinkError) -> [(index: Int32, masterIndex: Int32?, vlans: [UInt16])] {
        node.log.append("\(namespace) getvlans")
        return space.vlans.map { entry in
            (entry.key, space.links.first { $0.index == entry.key }?.masterIndex, entry.value.sorted())
        }
    }

    // Traffic control, as the kernel answers: one root and one ingress qdisc per link
    // (EEXIST for a second), a filter only on an ingress qdisc (EINVAL without), ENODEV for a
    // missing link; deleting a qdisc that is not there changes nothing.

    private func requireLink(_ index: Int32, _ entry: String) throws(NetlinkError) {
        if !space.links.contains(where: { $0.index == index }) { throw fail(entry, ENODEV) }
    }

    public func addTokenBucket(index: Int32, rate: UInt64, limit: UInt32, buffer: UInt32) throws(NetlinkError) {
        let entry = "qdisc add tbf \(name(index)) rate \(rate) limit \(limit) buffer \(buffer)"
        try requireLink(index, entry)
        if space.qdiscs[index, default: []].contains(where: { $0.parent == 0xFFFF_FFFF }) {
            throw fail(entry, EEXIST)
        }
        try change(entry)
        space.qdiscs[index, default: []].append(
            Qdisc(
                kind: "tbf", handle: 0x1_0000, parent: 0xFFFF_FFFF,
                rate: UInt32(truncatingIfNeeded: min(rate, UInt64(UInt32.max))), limit: limit, buffer: buffer))
    }

    public func addIngressQdisc(index: Int32) throws(NetlinkError) {
        let entry = "qdisc add ingress \(name(index))"
        try requireLink(index, entry)
        if space.qdiscs[index, default: []].contains(where: { $0.kind == "ingress" }) { throw fail(entry, EEXIST) }
        try change(entry)
        space.qdiscs[index, default: []].append(Qdisc(kind: "ingress", handle: 0xFFFF_0000, parent: 0xFFFF_FFF1))
    }

    public func addRedirectFilter(index: Int32, to targetIndex: Int32) throws(NetlinkError) {
        let entry = "filter add \(name(index)) redirect \(name(targetIndex))"
        try requireLink(index, entry)
        guard space.qdiscs[index, default: []].contains(where: { $0.kind == "ingress" }) else {
            throw fail(entry, EINVAL)
        }
        try requireLink(targetIndex, entry)
        try change(entry)
        space.redirects[index] = targetIndex
    }

    public func deleteQdisc(index: Int32, ingress: Bool) throws(NetlinkError) {
        let entry = "qdisc del \(ingress ? "ingress" : "root") \(name(index))"
        try requireLink(index, entry)
        let matches: (Qdisc) -> Bool = { ingress ? $0.kind == "ingress" : $0.parent == 0xFFFF_FFFF }
        guard space.qdiscs[index, default: []].contains(where: matches) else { return }
        try change(entry)
        space.qdiscs[index]?.removeAll(where: matches)
        if ingress { space.redirects[index] = nil }
        if space.qdiscs[index]?.isEmpty == true { space.qdiscs[index] = nil }
    }

    public func qdiscs(index: Int32) throws(NetlinkError) -> [Qdisc] {
        node.log.append("\(namespace) getqdiscs \(name(index))")
        return space.qdiscs[index] ?? []
    }
}
