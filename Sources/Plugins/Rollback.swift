import CNI
import Namespaces
import Netlink

/// Undo steps of a half-done ADD, run newest first when a later step fails. Each step's own
/// failure is swallowed: the original error is what the caller reports.
struct Rollback {
    private var steps: [() -> Void] = []

    mutating func add(_ step: @escaping () -> Void) { steps.append(step) }

    /// Runs every step in reverse order and forgets them.
    mutating func run() {
        for step in steps.reversed() { step() }
        steps.removeAll()
    }

    /// The ADD succeeded: nothing to undo.
    mutating func disarm() { steps.removeAll() }
}

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
