import CNI
import Firewall
import Namespaces
import Netlink
import POSIX

/// Everything a main plugin does to the system, as one value: netlink sessions per namespace,
/// sysctls, its IPAM, the firewall, its locks. `SystemHost` is the real one the executables use;
/// tests give the plugins a fake that models the kernel, records what was asked in which
/// namespace and in which order, and fails wherever a test says — so every ADD, DEL and CHECK
/// decision is tested without root (see docs/architecture.md). It is the sum of capabilities a
/// plugin or a helper can ask for alone: `NamespaceHost`, `StepHost`, `IPAMHost`,
/// `MasqueradeHost` (and, for bandwidth, `TrafficControlHost`).
public protocol PluginHost: NamespaceHost, IPAMHost, MasqueradeHost {}

/// Links, addresses and sysctls: the container's namespace and the host's.
public protocol NamespaceHost {
    /// Opens CNI_NETNS; `NamespaceError.notFound` when it is gone (DEL's success case).
    func openNamespace(_ path: String) throws -> any ContainerNamespace
    /// A netlink session in the plugin's own ("host") namespace.
    func hostNetlink() throws -> any NetlinkSession
    /// Writes a sysctl in the host namespace (key relative to /proc/sys).
    func writeHostSysctl(_ key: String, _ value: String) throws
}

/// The attachment's locks and the ADD's steps.
public protocol StepHost {
    /// Runs `body` holding the attachment's lock (see `AttachmentLock`); after a successful
    /// DEL (`forDelete`) the lock file is removed.
    func holdingAttachmentLock<T>(_ request: CNIRequest, forDelete: Bool, _ body: () throws -> T) throws -> T
    /// Runs `body` holding the lock of what the containers of `bridge` share (see `BridgeLock`).
    func holdingBridgeLock<T>(_ bridge: String, _ body: () throws -> T) throws -> T
    /// Called after each ADD step that a later failure must undo, named as in the tests
    /// ("create", "rename", "ipam", "address", "up", "route", "veth", "port", "gateway",
    /// "masquerade", "spoofcheck", "sysctl"). The real host does nothing in release builds.
    func checkpoint(_ step: String) throws
}

/// The config's IPAM.
public protocol IPAMHost: StepHost {
    /// Runs `command` on the config's IPAM (in-process or exec'd through CNI_PATH); nil when
    /// the config has none. ADD returns the IPAM's result.
    func runIPAM(_ command: CNICommand, _ request: CNIRequest) throws -> CNIResult?
}

/// The masquerade and spoof-check backends.
public protocol MasqueradeHost: StepHost {
    /// The masquerade backend for `ipMasqBackend` (nil: upstream's default choice).
    func masqueradeFirewall(_ backend: MasqueradeBackend?) -> any FirewallBackend
    /// Every masquerade backend whose tool is on this system (DEL and GC clean up in all).
    func installedMasqueradeFirewalls() -> [any FirewallBackend]
    /// The spoof-check backend.
    func spoofCheckFirewall() -> any SpoofCheckFirewall
    /// The spoof-check backend when its tool is on this system (DEL), else nil.
    func installedSpoofCheckFirewall() -> (any SpoofCheckFirewall)?
}

/// What the bandwidth plugin asks of the node, and nothing more: the container's namespace (to
/// find the host end of its veth) and traffic control on the host's links.
public protocol TrafficControlHost {
    func openNamespace(_ path: String) throws -> any ContainerNamespace
    /// A NETLINK_ROUTE session in the host namespace that also sends tc messages.
    func hostTrafficShaping() throws -> any TrafficShaping
}
