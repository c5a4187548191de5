import Namespaces
import Netlink
import POSIX
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The delete a DEL ends with returns once the kernel has taken the link out of its
/// namespace, the kernel's release of it left to a worker process: against the real kernel.
@Suite struct LinkDeletionTests {
    /// On return both ends of a veth pair are gone (a runtime may reuse the name at once); a
    /// second delete of the same index gets the kernel's ENODEV, through the worker's answer.
    @Test func theLinkIsGoneOnReturnAndTheKernelsAnswerComesBack() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let ns = try bed.namespace("del")
        try bed.ip(ns, "link", "add", "v0", "type", "veth", "peer", "name", "v0p")
        try bed.ip(ns, "link", "set", "v0", "up")
        let netlink = try RouteNetlink(in: try NetworkNamespace(path: bed.path(ns)))
        let link = try #require(try netlink.link(named: "v0"))
        try netlink.deleteLinkWithoutWaitingForRelease(index: link.index)
        #expect(try netlink.link(named: "v0") == nil)
        #expect(try netlink.link(named: "v0p") == nil)
        try bed.ip(ns, "link", "add", "v0", "type", "veth", "peer", "name", "v0p")
        #expect(try netlink.link(named: "v0") != nil, "the name is free again")
        do {
            try netlink.deleteLinkWithoutWaitingForRelease(index: link.index)
            Issue.record("a second delete of #\(link.index) succeeded")
        } catch {
            #expect(error.errno == ENODEV, "\(error)")
            #expect(error.description.contains("delete link #\(link.index)"), "\(error)")
        }
    }
}
