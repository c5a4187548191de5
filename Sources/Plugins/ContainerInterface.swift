import CNI
import Namespaces
import Netlink

/// DEL's last step, shared by every main plugin: delete the container's interface of `kind`,
/// succeeding when CNI_NETNS is empty, the namespace is gone, or the link is gone (or is not
/// of that kind: then it is not ours to delete).
enum ContainerInterface {
    static func delete(_ environment: CNIEnvironment, kind: String) throws {
        guard !environment.netns.isEmpty else { return }
        let container: NetworkNamespace
        do {
            container = try NetworkNamespace(path: environment.netns)
        } catch .notFound {
            return
        }
        let netlink = try RouteNetlink(in: container)
        guard let link = try netlink.link(named: environment.ifName), link.kind == kind else { return }
        do {
            try netlink.deleteLink(index: link.index)
        } catch where error.isNotFound {}
    }
}
