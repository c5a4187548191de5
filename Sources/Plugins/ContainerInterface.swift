import CNI
import Namespaces
import Netlink

/// DEL's last step, shared by every main plugin: delete the container's interface of `kind`,
/// succeeding when CNI_NETNS is empty, the namespace is gone, or the link is gone (or is not
/// of that kind: then it is not ours to delete).
enum ContainerInterface {
    /// Deletes CNI_IFNAME in the container and, when given, the link under `temporaryName`
    /// (what an ADD killed between creating and renaming its link leaves).
    static func delete(_ environment: CNIEnvironment, kind: String, temporaryName: String? = nil) throws {
        guard !environment.netns.isEmpty else { return }
        let container: NetworkNamespace
        switch Result(catching: { () throws(NamespaceError) in try NetworkNamespace(path: environment.netns) }) {
        case .success(let opened): container = opened
        case .failure(.notFound): return
        case .failure(let error): throw error
        }
        let netlink = try RouteNetlink(in: container)
        for name in [environment.ifName, temporaryName].compactMap({ $0 }) {
            try deleteLink(named: name, kind: kind, netlink)
        }
    }

    /// RTM_DELLINK of the link `name` when it exists and is of `kind`; ENODEV (gone meanwhile)
    /// is success.
    static func deleteLink(named name: String, kind: String, _ netlink: RouteNetlink) throws {
        guard let link = try netlink.link(named: name), link.kind == kind else { return }
        do {
            try netlink.deleteLink(index: link.index)
        } catch where error.isNotFound {}
    }
}
