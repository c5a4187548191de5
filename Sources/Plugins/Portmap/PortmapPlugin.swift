import Addressing
import CNI
import Firewall
import POSIX

/// `portmap`: a chained plugin that forwards host ports to the container
/// (`runtimeConfig.portMappings`, the `portMappings` capability), in upstream v1.9's rule
/// formats for iptables and nftables, one firewall transaction per family and call. Without
/// mappings it passes the previous result through and touches nothing.
public struct PortmapPlugin: CNIPlugin {
    let host: any PortmapHost

    public init(host: any PortmapHost = SystemPortmapHost()) { self.host = host }

    public var about: String { "swift-cni portmap: host ports forwarded to the container (iptables or nftables)" }

    public func add(_ request: CNIRequest) throws -> CNIResult {
        let config = try PortmapConfig(request.config)
        guard let previous = request.config.prevResult else {
            throw CNIError.invalidConfig("portmap must be called as a chained plugin: the config has no prevResult")
        }
        guard !config.mappings.isEmpty else { return previous }
        let mapper = host.portMapper(config.backend)
        let mapping = config.request(network: request.config.name, containerID: request.environment.containerID)
        let addresses = PortmapConfig.containerAddresses(previous, ifName: request.environment.ifName)
        do {
            for address in addresses {
                try mapper.forward(mapping, to: address)
                // After the rules, so new packets take them (upstream #553); a failure here only
                // leaves an old flow as it was, so it is reported, not fatal.
                let udp = Set(config.mappings.filter { $0.transport == .udp }.map(\.hostPort))
                if !udp.isEmpty {
                    do {
                        try host.deleteUDPConntrack(family: address.family, ports: udp)
                    } catch {
                        FileIO.writeAll(
                            .standardError,
                            "portmap: stale UDP conntrack entries of \(address.address) kept: \(error)\n")
                    }
                }
                if address.family == .v4 && config.snat {
                    // 127.0.0.1 may then cross to the container's interface (localhost DNAT).
                    try host.allowLocalhostRouting(toward: address.address)
                }
            }
        } catch {
            // Nothing half-made stays: the attachment's rules go in both families.
            try? mapper.remove(network: mapping.network, containerID: mapping.containerID)
            throw error
        }
        return previous
    }

    public func delete(_ request: CNIRequest) throws {
        // As upstream: a DEL without mappings has nothing to remove. Mappings that do not parse
        // still name an attachment that may have rules (made by another version, or an ADD
        // whose mappings were read otherwise): they are removed all the same, since the rules
        // are found by network and container, never by the mappings. A DEL that failed here
        // would stop libcni's DEL of the chain before the main plugin released the address.
        let config: PortmapConfig
        do {
            config = try PortmapConfig(request.config)
        } catch {
            let mappings = ConfigReader(request.config.runtimeConfig, foldsCase: true).value("portMappings")
            guard let entries = mappings?.arrayValue, !entries.isEmpty else { return }
            try removeEverywhere(request, host.portMapper(nil))
            return
        }
        guard !config.mappings.isEmpty else { return }
        try removeEverywhere(request, host.portMapper(config.backend))
    }

    /// Removes the attachment's rules through `mapper`, then (best effort) through every other
    /// installed backend.
    private func removeEverywhere(_ request: CNIRequest, _ mapper: any PortMapper) throws {
        try mapper.remove(network: request.config.name, containerID: request.environment.containerID)
        // What another backend made for the attachment (a node that changed backends) goes
        // too; that backend being unusable here is not this DEL's failure.
        for other in host.otherInstalledPortMappers(than: mapper) {
            try? other.remove(network: request.config.name, containerID: request.environment.containerID)
        }
    }

    public func check(_ request: CNIRequest) throws {
        let config = try PortmapConfig(request.config)
        guard let previous = request.config.prevResult else {
            throw CNIError.invalidConfig("portmap CHECK needs the prevResult of the ADD")
        }
        guard !config.mappings.isEmpty else { return }
        let mapper = host.portMapper(config.backend)
        let mapping = config.request(network: request.config.name, containerID: request.environment.containerID)
        for address in PortmapConfig.containerAddresses(previous, ifName: request.environment.ifName) {
            do {
                try mapper.check(mapping, for: address)
            } catch {
                throw CNIError(code: .checkFailed, msg: error.description)
            }
        }
    }

    /// Removes the rules of this network's attachments that the runtime no longer has
    /// (`cni.dev/valid-attachments`), in every installed backend that can tell them.
    public func garbageCollect(_ request: CNIRequest) throws {
        let config = try PortmapConfig(request.config)
        let valid = Set(try request.config.validAttachments().map(\.containerID))
        let mapper = host.portMapper(config.backend)
        try mapper.collectGarbage(network: request.config.name, validContainers: valid)
        for other in host.otherInstalledPortMappers(than: mapper) {
            try? other.collectGarbage(network: request.config.name, validContainers: valid)
        }
    }

    /// Ready when the backend's tool works here (code 50 otherwise).
    public func status(_ request: CNIRequest) throws {
        let config = try PortmapConfig(request.config)
        let mapper = host.portMapper(config.backend)
        if let reason = mapper.unusableReason() {
            throw CNIError(code: .pluginNotAvailable, msg: "the \(mapper.name) backend is not usable", details: reason)
        }
    }
}
