import CNI
import Namespaces
import Netlink

/// DEL's last step, shared by every main plugin: delete the container's interface of `kind`,
/// succeeding when CNI_NETNS is empty, the namespace is gone, or the link is gone (or is not
/// of that kind: then it is not ours to delete).
enum ContainerInterface {
    /// Deletes CNI_IFNAME in the container and, when given, the link under `temporaryName`
    /// (what an ADD killed between creating and renaming its link leaves).
    static func delete(_ environment: CNIEnvironment, kind: String, temporaryName: String? = nil, host: any PluginHost)
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
    /// is success.
    static func deleteLink(named name: String, kind: String, _ netlink: any NetlinkSession) throws {
        guard let link = try netlink.link(named: name), link.kind == kind else { return }
        do {
            try netlink.deleteLink(index: link.index)
        } catch {
            guard error.isNotFound else { throw error }  // not `catch where ... {}`: see SystemHost
        }
    }
}
