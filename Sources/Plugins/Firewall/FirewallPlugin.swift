import Addressing
import CNI
import Firewall

/// `firewall`: a chained plugin that lets the container's addresses be forwarded past a
/// FORWARD policy of DROP, in upstream v1.9's iptables layout (`CNI-FORWARD`, the admin chain),
/// in nftables, or as sources of a firewalld zone, and applies `ingressPolicy` (`open`,
/// `same-bridge`, `isolated`) to the bridge of the previous result. Podman 4 and nerdctl chain
/// it after bridge and portmap. With no `backend`, firewalld when it runs, else iptables (as
/// upstream).
public struct FirewallPlugin: CNIPlugin {
    /// The upstream release whose behaviour this implements, for nerdctl, which runs the plugin
    /// without CNI_COMMAND and reads a stderr line `CNI firewall plugin v<semver>` to decide
    /// what it may ask (ingressPolicy needs 1.1.0).
    static let upstreamVersion = "1.9.0"

    /// The backend a config asks for (the seam: tests hand a recording one).
    public typealias Backends = @Sendable (_ choice: BackendChoice) -> any ForwardFirewall

    /// Whether firewalld runs (the seam: tests answer without a bus).
    public typealias FirewalldProbe = @Sendable () -> Bool

    /// What a config asks of the backend: its name (iptables, nftables or firewalld; the
    /// default already resolved), iptables' admin chain, nftables' external forward chain,
    /// firewalld's zone.
    public struct BackendChoice: Sendable, Equatable {
        public var backend: String
        public var iptablesAdminChain: String
        public var nftablesForwardChain: NftablesForwardFirewall.ChainName?
        public var firewalldZone: String
    }

    let backends: Backends
    let firewalldIsRunning: FirewalldProbe

    public init() {
        backends = { choice -> any ForwardFirewall in
            switch choice.backend {
            case "nftables": NftablesForwardFirewall(externalChain: choice.nftablesForwardChain)
            case "firewalld":
                FirewalldForwardFirewall(zone: choice.firewalldZone, adminChain: choice.iptablesAdminChain)
            default: IptablesForwardFirewall(adminChain: choice.iptablesAdminChain)
            }
        }
        firewalldIsRunning = { FirewalldForwardFirewall.isRunning() }
    }

    public init(backends: @escaping Backends, firewalldIsRunning: @escaping FirewalldProbe = { false }) {
        self.backends = backends
        self.firewalldIsRunning = firewalldIsRunning
    }

    public var about: String {
        "CNI firewall plugin v\(Self.upstreamVersion)+swift-cni.\(BuildInfo.version)\n"
            + "swift-cni firewall: lets the container's addresses through FORWARD; ingress policies per bridge"
    }

    struct Config {
        enum IngressPolicy: String {
            case open
            case sameBridge = "same-bridge"
            case isolated
        }
        var firewall: any ForwardFirewall
        var ingressPolicy: IngressPolicy

        init(_ config: NetworkConfig, backends: Backends, firewalldIsRunning: FirewalldProbe) throws(CNIError) {
            let reader = config.reader
            let backend = try reader.string("backend") ?? ""
            switch backend {
            case "", "iptables", "nftables", "firewalld": break
            default:
                throw .invalidConfig("\"backend\": unknown backend \"\(backend)\" (iptables, nftables, firewalld)")
            }
            let zone = try reader.string("firewalldZone").flatMap { $0.isEmpty ? nil : $0 } ?? "trusted"
            guard zone.utf8.count <= 255,
                zone.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f && $0 != "/" })
            else {
                throw .invalidConfig(
                    "\"firewalldZone\": \"\(zone.prefix(64))\" is not a firewalld zone name (printable, no spaces or /)"
                )
            }
            let external = try reader.string("nftablesForwardChain").flatMap { $0.isEmpty ? nil : $0 }
            var chain: NftablesForwardFirewall.ChainName?
            if let external {
                guard backend == "nftables" else {
                    throw .invalidConfig("\"nftablesForwardChain\" needs \"backend\": \"nftables\"")
                }
                guard let parsed = NftablesForwardFirewall.ChainName(external) else {
                    throw .invalidConfig(
                        "\"nftablesForwardChain\": \"\(external)\" is not \"<family> <table> <chain>\" (family ip, ip6 or inet)"
                    )
                }
                chain = parsed
            }
            let admin = try reader.string("iptablesAdminChainName").flatMap { $0.isEmpty ? nil : $0 } ?? "CNI-ADMIN"
            guard admin.utf8.count <= 28,
                admin.unicodeScalars.allSatisfy({
                    $0.value > 0x20 && $0.value < 0x7f && !"\"'\\".unicodeScalars.contains($0)
                })
            else {
                throw .invalidConfig(
                    "\"iptablesAdminChainName\": \"\(admin)\" is not an iptables chain name (1 to 28 printable characters)"
                )
            }
            let resolved = backend.isEmpty ? (firewalldIsRunning() ? "firewalld" : "iptables") : backend
            firewall = backends(
                BackendChoice(
                    backend: resolved, iptablesAdminChain: admin, nftablesForwardChain: chain, firewalldZone: zone))
            let policy = try reader.string("ingressPolicy") ?? ""
            guard let parsed = policy.isEmpty ? .open : IngressPolicy(rawValue: policy) else {
                throw .invalidConfig(
                    "\"ingressPolicy\": unknown ingress policy \"\(policy)\" (open, same-bridge, isolated)")
            }
            ingressPolicy = parsed
        }
    }

    public func add(_ request: CNIRequest) throws -> CNIResult {
        let config = try Config(request.config, backends: backends, firewalldIsRunning: firewalldIsRunning)
        guard let result = request.config.prevResult else {
            throw CNIError.invalidConfig("missing prevResult from earlier plugin: firewall must be chained")
        }
        let addresses = result.ips.map(\.address.address)
        try config.firewall.allow(addresses, containerID: request.environment.containerID)
        if config.ingressPolicy != .open {
            guard let bridge = result.interfaces.first?.name, !bridge.isEmpty else {
                throw CNIError.invalidConfig(
                    "ingressPolicy \"\(config.ingressPolicy.rawValue)\" needs the bridge in the previous result: chain firewall after bridge"
                )
            }
            guard
                bridge.unicodeScalars.allSatisfy({
                    $0.value > 0x20 && $0.value < 0x7f && !"\"'\\".unicodeScalars.contains($0)
                })
            else { throw CNIError.invalidConfig("the bridge name \"\(bridge)\" cannot be written in an iptables rule") }
            do {
                try config.firewall.isolate(
                    bridge: bridge, isolated: config.ingressPolicy == .isolated, families: Set(addresses.map(\.family)))
            } catch {
                try? config.firewall.revoke(addresses, containerID: request.environment.containerID)
                throw error
            }
        }
        return result
    }

    /// Removes the container's rules: iptables' by the addresses of the prevResult the runtime
    /// cached (without one there is nothing to know them by, as upstream), nftables' by their
    /// comment, with or without one.
    public func delete(_ request: CNIRequest) throws {
        let config = try Config(request.config, backends: backends, firewalldIsRunning: firewalldIsRunning)
        let addresses = request.config.prevResult?.ips.map(\.address.address) ?? []
        try config.firewall.revoke(addresses, containerID: request.environment.containerID)
    }

    public func check(_ request: CNIRequest) throws {
        let config = try Config(request.config, backends: backends, firewalldIsRunning: firewalldIsRunning)
        guard let result = request.config.prevResult else {
            throw CNIError.invalidConfig("missing prevResult from earlier plugin")
        }
        do {
            try config.firewall.check(result.ips.map(\.address.address), containerID: request.environment.containerID)
        } catch {
            throw CNIError(code: .checkFailed, msg: error.description)
        }
    }

    public func garbageCollect(_ request: CNIRequest) throws {}

    /// Ready when the backend answers (code 50 otherwise).
    public func status(_ request: CNIRequest) throws {
        let config = try Config(request.config, backends: backends, firewalldIsRunning: firewalldIsRunning)
        if let reason = config.firewall.unusableReason() {
            throw CNIError(
                code: .pluginNotAvailable, msg: "the \(config.firewall.name) backend is not usable", details: reason)
        }
    }
}
