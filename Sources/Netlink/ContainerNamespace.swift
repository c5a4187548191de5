import Namespaces
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// A container's network namespace as the plugins and the dhcp daemon use it: the one seam
/// over a namespace (the real one is `NetworkNamespace`; tests give fakes).
public protocol ContainerNamespace: AnyObject {
    /// CNI_NETNS, for messages and results.
    var path: String { get }
    /// The descriptor a link is created into this namespace with (IFLA_NET_NS_FD).
    var fileDescriptor: FileDescriptor { get }
    /// A netlink session inside the namespace, usable from the plugin's own.
    func netlink() throws -> any NetlinkSession
    /// Writes sysctls inside the namespace (keys relative to /proc/sys), in order, entering it
    /// once. A key that does not exist (ENOENT: IPv6 disabled in the kernel, say) is skipped
    /// when its write allows it, else the `SysctlError` is thrown.
    func writeSysctls(_ writes: [SysctlWrite]) throws
}

/// The real container namespace: netlink sockets opened inside it, sysctls written with the
/// calling thread switched into it (setns there and back).
extension NetworkNamespace: ContainerNamespace {
    public func netlink() throws -> any NetlinkSession { try RouteNetlink(in: self) }

    public func writeSysctls(_ writes: [SysctlWrite]) throws {
        try run { () throws(SysctlError) in
            for write in writes {
                // A `catch where` with an empty body crashes Swift 6.0.3's SIL verifier (the
                // arm64 build's compiler): the same test, written as a guard.
                do throws(SysctlError) {
                    try Sysctl.write(write.key, write.value)
                } catch {
                    guard write.mayBeMissing && error.errno == ENOENT else { throw error }
                }
            }
        }
    }
}
