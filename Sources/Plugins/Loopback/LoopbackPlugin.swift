import Addressing
import CNI
import Namespaces
import Netlink

extension IPAddress {
    /// 127.0.0.0/8 or ::1.
    public var isLoopback: Bool {
        switch family {
        case .v4: (v4Value ?? 0) >> 24 == 127
        case .v6: high == 0 && low == 1
        }
    }
}

/// `loopback`: brings `lo` up in the container (what containerd's CRI and Podman run for every
/// sandbox), with the reference's behaviour: CNI_IFNAME is ignored; ADD passes a prevResult
/// through unchanged, or reports `lo` with its first IPv4 and first IPv6 address; a
/// non-loopback address on `lo` is an error; DEL sets it down and succeeds when CNI_NETNS is
/// empty or gone; CHECK fails when it is down. GC and STATUS have nothing to do.
public struct LoopbackPlugin: CNIPlugin {
    /// What the plugin does to the system goes through its host (the kernel, or a test's fake).
    let host: any NamespaceHost
    public init(host: any NamespaceHost = SystemHost()) { self.host = host }
    public var about: String { "swift-cni loopback: brings up the container's lo" }

    /// The container's netlink socket and its `lo` (RTM_GETLINK by name).
    private func loopback(in netnsPath: String) throws -> (any NetlinkSession, Link) {
        let netlink = try host.openNamespace(netnsPath).netlink()
        guard let link = try netlink.link(named: "lo") else {
            throw CNIError(code: .kernelOperationFailed, msg: "netns \(netnsPath) has no loopback interface \"lo\"")
        }
        return (netlink, link)
    }

    public func add(_ request: CNIRequest) throws -> CNIResult {
        let env = request.environment
        let (netlink, link) = try loopback(in: env.netns)
        try netlink.setLink(index: link.index, up: true)
        let addresses = try netlink.addresses(interfaceIndex: link.index).map(\.prefix)
        if let foreign = addresses.first(where: { !$0.address.isLoopback }) {
            throw CNIError(
                code: .kernelOperationFailed,
                msg: "loopback interface found with non-loopback address \"\(foreign.address)\"")
        }
        if let previous = request.config.prevResult { return previous }
        var result = CNIResult(
            cniVersion: request.config.cniVersion,
            interfaces: [CNIResult.Interface(name: "lo", mac: "00:00:00:00:00:00", sandbox: env.netns)])
        for family in [IPAddress.Family.v4, .v6] {
            if let first = addresses.first(where: { $0.family == family }) {
                result.ips.append(CNIResult.IPConfig(address: first, interface: 0))
            }
        }
        return result
    }

    public func delete(_ request: CNIRequest) throws {
        let env = request.environment
        guard !env.netns.isEmpty else { return }
        let netlink: any NetlinkSession
        let link: Link
        do {
            (netlink, link) = try loopback(in: env.netns)
        } catch NamespaceError.notFound {
            return
        }
        try netlink.setLink(index: link.index, up: false)
    }

    public func check(_ request: CNIRequest) throws {
        let (_, link) = try loopback(in: request.environment.netns)
        guard link.isUp else { throw CNIError(code: .checkFailed, msg: "loopback interface is down") }
    }

    public func garbageCollect(_ request: CNIRequest) throws {}
    public func status(_ request: CNIRequest) throws {}
}
