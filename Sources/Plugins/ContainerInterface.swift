import Addressing
import CNI
import Namespaces
import Netlink

/// The container's interface as every main plugin handles it: ADD's refusal of a name already
/// taken and the veth pair of bridge and ptp; DEL's last step, deleting the interface of `kind`,
/// succeeding when CNI_NETNS is empty, the namespace is gone, or the link is gone (or is not
/// of that kind: then it is not ours to delete).
enum ContainerInterface {
    /// What an ADD works with: the container's namespace, a netlink session inside it and one
    /// in the host namespace (the container's own with `hostIsContainer`: `linkInContainer`).
    /// With `refusingExisting`, CNI_IFNAME already in the container is refused before anything
    /// is made (`refuseExisting`); without, the caller learns it from its RTM_NEWLINK's EEXIST.
    struct Sessions {
        let container: any ContainerNamespace
        let containerNetlink: any NetlinkSession
        let hostNetlink: any NetlinkSession

        init(
            _ environment: CNIEnvironment, host: any NamespaceHost, hostIsContainer: Bool = false,
            refusingExisting: Bool = true
        ) throws {
            container = try host.openNamespace(environment.netns)
            containerNetlink = try container.netlink()
            hostNetlink = hostIsContainer ? containerNetlink : try host.hostNetlink()
            if refusingExisting { try ContainerInterface.refuseExisting(environment, in: containerNetlink) }
        }
    }

    /// ADD's first check (RTM_GETLINK in the container): CNI_IFNAME must not exist there yet, or
    /// the ADD fails with code 4 naming it and leaves that interface alone.
    static func refuseExisting(_ environment: CNIEnvironment, in containerNetlink: any NetlinkSession) throws {
        guard try containerNetlink.link(named: environment.ifName) != nil else { return }
        throw CNIError(
            code: .invalidEnvironment,
            msg: "interface \"\(environment.ifName)\" already exists in netns \(environment.netns)")
    }

    /// RTM_NEWLINK of a veth pair from the host namespace: the host end under a temporary
    /// `veth…` name, the peer made directly in the container (IFLA_NET_NS_FD) as CNI_IFNAME with
    /// `peerAddress` as its MAC when given. The host end's deletion (which takes the peer with it)
    /// goes on `rollback`; returns both ends as the kernel reports them.
    static func createVethPair(
        _ environment: CNIEnvironment, container: any ContainerNamespace, mtu: UInt32, peerAddress: MACAddress?,
        hostNetlink: any NetlinkSession, containerNetlink: any NetlinkSession, host: any StepHost,
        rollback: inout Rollback
    ) throws -> (hostEnd: Link, containerEnd: Link) {
        let hostVethName = TemporaryName.make(prefix: "veth")
        try hostNetlink.createLink(
            LinkRequest(
                name: hostVethName,
                kind: .veth(
                    peerName: environment.ifName, peerNamespaceFD: container.fileDescriptor, peerAddress: peerAddress),
                mtu: mtu == 0 ? nil : mtu))
        guard let hostEnd = try hostNetlink.link(named: hostVethName) else {
            throw CNIError(code: .kernelOperationFailed, msg: "veth \"\(hostVethName)\" vanished after creation")
        }
        rollback.add("delete veth \(hostVethName)") { try hostNetlink.deleteLink(index: hostEnd.index) }
        try host.checkpoint("veth")
        guard let containerEnd = try containerNetlink.link(named: environment.ifName) else {
            throw CNIError(
                code: .kernelOperationFailed,
                msg: "veth end \"\(environment.ifName)\" is missing in netns \(environment.netns)")
        }
        return (hostEnd, containerEnd)
    }

    /// Deletes CNI_IFNAME in the container and, when given, the link under `temporaryName`
    /// (what an ADD of an earlier release, killed between creating and renaming its link, left).
    static func delete(
        _ environment: CNIEnvironment, kind: String, temporaryName: String? = nil, host: any NamespaceHost
    )
        throws
    {
        guard !environment.netns.isEmpty else { return }
        let container: any ContainerNamespace
        do {
            container = try host.openNamespace(environment.netns)
        } catch NamespaceError.notFound {
            return
        }
        let netlink = try container.netlink()
        for name in [environment.ifName, temporaryName].compactMap({ $0 }) {
            try deleteLink(named: name, kind: kind, netlink)
        }
    }

    /// RTM_DELLINK of the link `name` when it exists and is of `kind`; ENODEV (gone meanwhile)
    /// is success. It returns once the link is out of the namespace, before the kernel has
    /// released it (`deleteLinkWithoutWaitingForRelease`).
    static func deleteLink(named name: String, kind: String, _ netlink: any NetlinkSession) throws {
        guard let link = try netlink.link(named: name), link.kind == kind else { return }
        do {
            try netlink.deleteLinkWithoutWaitingForRelease(index: link.index)
        } catch {
            guard error.isNotFound else { throw error }  // not `catch where ... {}`: see SystemHost
        }
    }
}
