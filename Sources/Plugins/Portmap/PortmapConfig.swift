import Addressing
import CNI
import Firewall
import Nftables

/// Which firewall carries the host ports (`backend`).
public enum PortmapBackend: String, Sendable {
    case iptables, nftables
}

/// portmap's config (upstream v1.9's keys), read and range-checked: every mistake is code 7
/// naming the key, before anything is changed.
struct PortmapConfig {
    /// At most this many mappings in one request: the rules of each are kept in memory and
    /// written in one transaction, so the bound keeps an ADD's time and memory bounded.
    static let mappingLimit = 16384

    var mappings: [PortMapping]
    var snat: Bool
    var masqueradeAll: Bool
    var markBit: Int
    var externalSetMarkChain: String?
    var conditionsV4: [String]
    var conditionsV6: [String]
    /// nil: upstream's choice (iptables, unless only nftables is there).
    var backend: PortmapBackend?

    init(_ config: NetworkConfig) throws(CNIError) {
        let reader = config.reader
        snat = try reader.bool("snat") ?? true
        masqueradeAll = try reader.bool("masqAll") ?? false
        externalSetMarkChain = try reader.string("externalSetMarkChain")
        let markBit = try reader.integer("markMasqBit", in: 0...31)
        if markBit != nil && externalSetMarkChain != nil {
            throw .invalidConfig("\"markMasqBit\" and \"externalSetMarkChain\" cannot both be given")
        }
        self.markBit = markBit ?? 13
        if let chain = externalSetMarkChain {
            guard !chain.isEmpty, chain.utf8.count <= 28,
                chain.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f && $0 != "\"" && $0 != "'" })
            else {
                throw .invalidConfig(
                    "\"externalSetMarkChain\": \"\(chain)\" is not an iptables chain name (1 to 28 printable characters)"
                )
            }
        }
        conditionsV4 = try Self.conditions(reader, "conditionsV4")
        conditionsV6 = try Self.conditions(reader, "conditionsV6")
        if let text = try reader.string("backend") {
            guard let backend = PortmapBackend(rawValue: text) else {
                throw .invalidConfig("\"backend\": unknown backend \"\(text)\" (iptables or nftables)")
            }
            self.backend = backend
        }
        try Self.checkBackend(
            backend, externalSetMarkChain: externalSetMarkChain != nil, conditionsV4: conditionsV4,
            conditionsV6: conditionsV6)
        // Runtimes write the entries' keys as their Go structs spell them (containerd's go-cni:
        // `HostPort`, `ContainerPort`, `Protocol`, `HostIP`), which Go's decoder accepts.
        mappings = try Self.mappings(ConfigReader(config.runtimeConfig, path: "runtimeConfig", foldsCase: true))
    }

    /// The backend the conditions are written for, as upstream tells: iptables arguments start
    /// with `-` or `!`, nftables expressions never do.
    static func backend(ofConditions conditions: [String]) -> PortmapBackend? {
        guard let first = conditions.first?.unicodeScalars.first else { return nil }
        return first == "-" || first == "!" ? .iptables : .nftables
    }

    /// Options of one backend under the other are refused, as upstream's ensureBackend does.
    static func checkBackend(
        _ backend: PortmapBackend?, externalSetMarkChain: Bool, conditionsV4: [String], conditionsV6: [String]
    ) throws(CNIError) {
        var wants: [PortmapBackend: [String]] = [:]
        if externalSetMarkChain { wants[.iptables, default: []].append("externalSetMarkChain") }
        if let of = Self.backend(ofConditions: conditionsV4) { wants[of, default: []].append("conditionsV4") }
        if let of = Self.backend(ofConditions: conditionsV6) { wants[of, default: []].append("conditionsV6") }
        let chosen = backend ?? .iptables
        let other: PortmapBackend = chosen == .iptables ? .nftables : .iptables
        if let keys = wants[other], !keys.isEmpty {
            throw .invalidConfig(
                "the \(chosen.rawValue) backend was chosen but \(keys.joined(separator: ", ")) "
                    + (keys.count == 1 ? "is" : "are") + " written for \(other.rawValue)")
        }
        // nftables conditions are compiled in the process (there is no `nft`): words it does
        // not understand are refused here, before anything is made.
        for (key, words, family) in [
            ("conditionsV4", conditionsV4, IPAddress.Family.v4), ("conditionsV6", conditionsV6, .v6),
        ] where Self.backend(ofConditions: words) == .nftables {
            var body = NftablesRuleBody(in: NftablesFamily(family))
            do {
                try body.appendConditions(words, family: family)
            } catch {
                throw .invalidConfig("\"\(key)\": \(error)")
            }
        }
    }

    /// A list of condition words; a line break or NUL in one could end the firewall
    /// transaction's line and start another, so it is code 7.
    static func conditions(_ reader: ConfigReader, _ key: String) throws(CNIError) -> [String] {
        let words = try reader.strings(key) ?? []
        for (index, word) in words.enumerated()
        where word.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" || $0.value == 0 }) {
            throw .invalidConfig("\"\(key)[\(index)]\": a condition cannot hold a line break")
        }
        return words.first == "" ? [] : words
    }

    /// `runtimeConfig.portMappings`, each port 1-65535, a known protocol, a host address.
    static func mappings(_ runtime: ConfigReader) throws(CNIError) -> [PortMapping] {
        guard let list = try runtime.array("portMappings") else { return [] }
        guard list.count <= mappingLimit else {
            throw .invalidConfig(
                "\"runtimeConfig.portMappings\": \(list.count) mappings, at most \(mappingLimit) are taken in one call")
        }
        var mappings: [PortMapping] = []
        mappings.reserveCapacity(list.count)
        for entry in try runtime.objects("portMappings") ?? [] {
            guard let hostPort = try entry.integer("hostPort", in: 1...65535 as ClosedRange<UInt16>) else {
                throw .invalidConfig("\"\(entry.keyPath("hostPort"))\": missing")
            }
            guard let containerPort = try entry.integer("containerPort", in: 1...65535 as ClosedRange<UInt16>)
            else { throw .invalidConfig("\"\(entry.keyPath("containerPort"))\": missing") }
            // Kubernetes' default protocol is TCP; runtimes pass it lower- or upper-case.
            let name = (try entry.string("protocol") ?? "tcp").lowercased()
            guard let transport = PortMapping.TransportProtocol(rawValue: name.isEmpty ? "tcp" : name) else {
                throw .invalidConfig(
                    "\"\(entry.keyPath("protocol"))\": unknown protocol \"\(name)\" (tcp, udp or sctp)")
            }
            var hostIP: IPAddress?
            if let text = try entry.string("hostIP"), !text.isEmpty {
                guard let address = IPAddress(text) else {
                    throw .invalidConfig("\"\(entry.keyPath("hostIP"))\": invalid IP address \"\(text)\"")
                }
                hostIP = address
            }
            mappings.append(
                PortMapping(hostPort: hostPort, containerPort: containerPort, transport: transport, hostIP: hostIP))
        }
        return mappings
    }

    /// The request for one attachment.
    func request(network: String, containerID: String) -> PortMapRequest {
        PortMapRequest(
            network: network, containerID: containerID, mappings: mappings, snat: snat, masqueradeAll: masqueradeAll,
            markBit: markBit, externalSetMarkChain: externalSetMarkChain, conditionsV4: conditionsV4,
            conditionsV6: conditionsV6)
    }

    /// The container's first address of each family on the plugin's interface, from the
    /// previous result (addresses of interfaces outside the container, or of another
    /// interface, are skipped, as upstream does).
    static func containerAddresses(_ result: CNIResult, ifName: String) -> [IPPrefix] {
        var chosen: [IPPrefix] = []
        for ip in result.ips where !chosen.contains(where: { $0.family == ip.address.family }) {
            if let index = ip.interface, result.interfaces.indices.contains(index) {
                let interface = result.interfaces[index]
                if interface.name != ifName || (interface.sandbox ?? "").isEmpty { continue }
            }
            chosen.append(ip.address)
        }
        return chosen.sorted { $0.family == .v4 && $1.family == .v6 }
    }
}
