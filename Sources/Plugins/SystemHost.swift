import CNI
import Firewall
import Namespaces
import Netlink

#if canImport(Glibc)
    import Glibc
#endif

/// The real plugin host: the kernel through netlink sockets and /proc/sys, IPAM through
/// `IPAMInvoker`, `iptables`/`nft` through the firewall backends, locks under /run/swift-cni.
///
/// Debug builds read two test hooks from the process environment, for the end-to-end tests
/// that exercise rollback with real kernel objects: SWIFT_CNI_INJECT_FAILURE=<step> makes the
/// ADD fail right after that step (it can only make an ADD fail, never change what a
/// successful one does), SWIFT_CNI_IPAM_EXEC=1 execs the IPAM even when it is ours. Release
/// builds contain neither (the release test checks the installed binary's bytes).
public struct SystemHost: PluginHost, TrafficControlHost {
    #if DEBUG
        private let injectedFailureStep = getenv("SWIFT_CNI_INJECT_FAILURE").map { String(cString: $0) }
        private let forcesIPAMExec = getenv("SWIFT_CNI_IPAM_EXEC").map { String(cString: $0) } == "1"
    #endif

    public init() {}

    public func openNamespace(_ path: String) throws -> any ContainerNamespace {
        try NetworkNamespace(path: path)
    }

    /// A NETLINK_ROUTE socket in the calling thread's namespace.
    public func hostNetlink() throws -> any NetlinkSession { try RouteNetlink() }

    /// The same, for its traffic control requests.
    public func hostTrafficShaping() throws -> any TrafficShaping { try RouteNetlink() }

    public func writeHostSysctl(_ key: String, _ value: String) throws { try Sysctl.write(key, value) }

    public func runIPAM(_ command: CNICommand, _ request: CNIRequest) throws -> CNIResult? {
        #if DEBUG
            return try IPAMInvoker.run(command, request, inProcessAllowed: !forcesIPAMExec)
        #else
            return try IPAMInvoker.run(command, request)
        #endif
    }

    /// The named backend; without one, upstream's default (v1.6+): iptables, unless only
    /// nftables is usable.
    public func masqueradeFirewall(_ backend: MasqueradeBackend?) -> any FirewallBackend {
        switch backend {
        case .iptables: return IptablesFirewall()
        case .nftables: return NftablesFirewall()
        case nil:
            if IptablesFirewall().unusableReason() == nil { return IptablesFirewall() }
            return NftablesFirewall().unusableReason() == nil ? NftablesFirewall() : IptablesFirewall()
        }
    }

    /// Every backend usable on this system (iptables: its tool; nftables: the kernel answers):
    /// the attachment may have been made by another version or configuration (as upstream's
    /// teardown assumes).
    public func installedMasqueradeFirewalls() -> [any FirewallBackend] {
        var backends: [any FirewallBackend] = []
        if FirewallTool.isInstalled("iptables") { backends.append(IptablesFirewall()) }
        if NftablesFirewall.isAvailable { backends.append(NftablesFirewall()) }
        return backends
    }

    public func spoofCheckFirewall() -> any SpoofCheckFirewall { NftablesFirewall() }

    public func installedSpoofCheckFirewall() -> (any SpoofCheckFirewall)? {
        NftablesFirewall.isAvailable ? NftablesFirewall() : nil
    }

    public func holdingAttachmentLock<T>(_ request: CNIRequest, forDelete: Bool, _ body: () throws -> T) throws -> T {
        try AttachmentLock.holding(request, removeAfterwards: forDelete, body)
    }

    public func holdingBridgeLock<T>(_ bridge: String, _ body: () throws -> T) throws -> T {
        try BridgeLock.holding(bridge, body)
    }

    public func checkpoint(_ step: String) throws {
        #if DEBUG
            if injectedFailureStep == step {
                throw CNIError(code: .internalError, msg: "injected failure after step \"\(step)\"")
            }
        #endif
    }
}
