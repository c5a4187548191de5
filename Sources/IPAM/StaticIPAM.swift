import Addressing
import CNI
import JSON
import POSIX

/// The `static` IPAM: addresses, routes and DNS written in the config (upstream v1.9's plugins/ipam/static).
///
/// `ipam.addresses` [{address, gateway}], `ipam.routes`, `ipam.dns`; CNI_ARGS `IP=` and
/// `GATEWAY=` (comma-separated) add addresses; `args.cni.ips` and `runtimeConfig.ips`
/// replace them.
public struct StaticIPAM: Sendable, Equatable {
    public var addresses: [CNIResult.IPConfig]
    public var routes: [CNIResult.Route]
    public var dns: DNS

    /// Reads the config of `request`. Code 7 for a malformed address, gateway or route, for a
    /// gateway of the other family than its address, and for a GATEWAY list longer than IP's.
    public init(request: CNIRequest) throws(CNIError) {
        guard let ipamObject = request.config.ipam else {
            throw CNIError.invalidConfig("IPAM config missing 'ipam' key")
        }
        let ipam = ConfigReader(ipamObject, path: "ipam")
        var addresses: [CNIResult.IPConfig] = []
        for entry in try ipam.objects("addresses") ?? [] {
            guard let address = try entry.ipPrefix("address") else {
                throw CNIError.invalidConfig("\"\(entry.path).address\" missing")
            }
            let gateway = try entry.ipAddress("gateway")
            addresses.append(CNIResult.IPConfig(address: address, gateway: gateway))
        }

        // CNI_ARGS IP= and GATEWAY= add addresses (comma-separated; GATEWAY pairs by position).
        let cniArgs = try request.cniArgs(knownKeys: ["IP", "GATEWAY"])
        if let ipList = cniArgs["IP"], !ipList.isEmpty {
            let ips = ipList.split(separator: ",").map { $0.trimming { $0 == " " } }
            let gateways = (cniArgs["GATEWAY"] ?? "").split(separator: ",").map { $0.trimming { $0 == " " } }
            guard gateways.count <= ips.count else {
                throw CNIError.invalidConfig("CNI_ARGS GATEWAY lists \(gateways.count) gateways for \(ips.count) IPs")
            }
            for (position, text) in ips.enumerated() {
                guard let address = IPPrefix(text) else {
                    throw CNIError.invalidConfig("CNI_ARGS IP: invalid CIDR \"\(text)\"")
                }
                var gateway: IPAddress?
                if position < gateways.count {
                    guard let parsed = IPAddress(gateways[position]) else {
                        throw CNIError.invalidConfig("CNI_ARGS GATEWAY: invalid IP address \"\(gateways[position])\"")
                    }
                    gateway = parsed
                }
                addresses.append(CNIResult.IPConfig(address: address, gateway: gateway))
            }
        }

        // args.cni.ips, then runtimeConfig.ips, replace the list (the later source wins).
        for (source, values) in try request.requestedIPs() {
            var replaced: [CNIResult.IPConfig] = []
            for text in values {
                guard let address = IPPrefix(text) else {
                    throw CNIError.invalidConfig("\"\(source)\": invalid CIDR \"\(text.prefix(64))\"")
                }
                replaced.append(CNIResult.IPConfig(address: address))
            }
            if !replaced.isEmpty { addresses = replaced }
        }

        for ip in addresses {
            if let gateway = ip.gateway, gateway.family != ip.address.family {
                throw CNIError.invalidConfig("gateway \(gateway) is not of the same family as address \(ip.address)")
            }
        }
        self.addresses = addresses
        self.routes = try StaticIPAM.routes(ipam)
        self.dns = try ipam.object("dns").map { reader throws(CNIError) in try DNS(reader) } ?? DNS()
    }

    /// `routes`: [{dst, gw?, mtu?, advmss?, priority?, table?, scope?}] (code 7 when malformed).
    public static func routes(_ reader: ConfigReader) throws(CNIError) -> [CNIResult.Route] {
        var routes: [CNIResult.Route] = []
        for entry in try reader.objects("routes") ?? [] {
            guard let destination = try entry.ipPrefix("dst") else {
                throw CNIError.invalidConfig("\"\(entry.path).dst\" missing")
            }
            let gateway = try entry.ipAddress("gw")
            if let gateway, gateway.family != destination.family {
                throw CNIError.invalidConfig(
                    "\"\(entry.path)\": gateway \(gateway) is not of the family of \(destination)")
            }
            routes.append(try CNIResult.Route(destination: destination.subnet, gateway: gateway, reading: entry))
        }
        return routes
    }

    /// The IPAM result: the addresses (no interface index: the main plugin fills it in), routes, DNS.
    public func result(cniVersion: String) -> CNIResult {
        CNIResult(cniVersion: cniVersion, ips: addresses, routes: routes, dns: dns)
    }
}

/// The `static` executable's plugin.
public struct StaticPlugin: CNIPlugin {
    public init() {}
    public var about: String { "swift-cni static IPAM: addresses, routes and DNS from the network config" }

    public func add(_ request: CNIRequest) throws -> CNIResult {
        try StaticIPAM(request: request).result(cniVersion: request.config.cniVersion)
    }

    /// Nothing was reserved, so nothing to release; a malformed config is still an error.
    public func delete(_ request: CNIRequest) throws {
        _ = try StaticIPAM(request: request)
    }

    /// Each configured address must be in prevResult's IPs (code 103 otherwise).
    public func check(_ request: CNIRequest) throws {
        let config = try StaticIPAM(request: request)
        guard let previous = request.config.prevResult else {
            throw CNIError.invalidConfig("required prevResult missing")
        }
        for ip in config.addresses where !previous.ips.contains(where: { $0.address == ip.address }) {
            throw CNIError(code: .checkFailed, msg: "static: address \(ip.address) is not in prevResult")
        }
    }

    public func garbageCollect(_ request: CNIRequest) throws {}
    public func status(_ request: CNIRequest) throws {}
}
