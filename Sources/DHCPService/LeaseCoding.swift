import Addressing
import CNI
import DHCP
import JSON

/// The JSON forms of leases and requests: what the plugin and the daemon exchange over the
/// socket (one JSON object a line each way) and what the daemon keeps on disk.
enum LeaseCoding {
    static func json(_ lease: DHCPLease) -> JSONValue {
        var object = JSONObject()
        object["address"] = .string(lease.address.description)
        object["server"] = .string(lease.serverIdentifier.description)
        object["leaseSeconds"] = .integer(lease.leaseSeconds)
        object["renewalSeconds"] = .integer(lease.renewalSeconds)
        object["rebindingSeconds"] = .integer(lease.rebindingSeconds)
        object["routers"] = .array(lease.routers.map { .string($0.description) })
        object["routes"] = .array(
            lease.routes.map { ["dst": .string($0.destination.description), "gw": .string($0.router.description)] })
        object["dns"] = .array(lease.dnsServers.map { .string($0.description) })
        if let domain = lease.domainName { object["domain"] = .string(domain) }
        object["search"] = .array(lease.searchDomains.map(JSONValue.string))
        if let mtu = lease.mtu { object["mtu"] = .integer(mtu) }
        return .object(object)
    }

    /// A DHCPv6 lease, with the default router the container's kernel took from an
    /// advertisement (`router`, when known).
    static func json(_ lease: DHCPv6Lease, router: IPAddress? = nil) -> JSONValue {
        var object = JSONObject()
        object["address"] = .string(lease.address.description)
        object["serverID"] = .string(hex(lease.serverIdentifier))
        object["preferredLifetime"] = .integer(lease.preferredLifetime)
        object["validLifetime"] = .integer(lease.validLifetime)
        object["renewalSeconds"] = .integer(lease.renewalSeconds)
        object["rebindingSeconds"] = .integer(lease.rebindingSeconds)
        object["dns"] = .array(lease.dnsServers.map { .string($0.description) })
        object["search"] = .array(lease.searchDomains.map(JSONValue.string))
        if let router { object["router"] = .string(router.description) }
        return .object(object)
    }

    /// Bytes as lowercase hex digits, two a byte (a DUID in the lease file and `dhcp leases`).
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    static func lease6(_ value: JSONValue) throws(CNIError) -> (lease: DHCPv6Lease, router: IPAddress?) {
        guard let object = value.objectValue else {
            throw CNIError(code: .decodingFailure, msg: "lease6 is not an object")
        }
        let reader = ConfigReader(object, path: "lease6")
        guard let address = try reader.ipAddress("address"), address.family == .v6,
            let serverText = try reader.string("serverID"), serverText.count % 2 == 0
        else { throw CNIError(code: .decodingFailure, msg: "lease6 lacks its IPv6 address or server") }
        let characters = Array(serverText)
        let serverIdentifier = stride(from: 0, to: characters.count, by: 2).compactMap {
            UInt8(String(characters[$0..<($0 + 2)]), radix: 16)
        }
        func seconds(_ key: String) throws(CNIError) -> UInt32 { UInt32(clamping: max(0, try reader.int(key) ?? 0)) }
        let lease = DHCPv6Lease(
            address: address, serverIdentifier: serverIdentifier, preferredLifetime: try seconds("preferredLifetime"),
            validLifetime: try seconds("validLifetime"), renewalSeconds: try seconds("renewalSeconds"),
            rebindingSeconds: try seconds("rebindingSeconds"),
            dnsServers: (try reader.strings("dns") ?? []).compactMap { IPAddress($0) },
            searchDomains: try reader.strings("search") ?? [])
        return (lease, try reader.ipAddress("router"))
    }

    static func lease(_ value: JSONValue) throws(CNIError) -> DHCPLease {
        guard let object = value.objectValue else {
            throw CNIError(code: .decodingFailure, msg: "lease is not an object")
        }
        let reader = ConfigReader(object, path: "lease")
        guard let address = try reader.ipPrefix("address"), let server = try reader.ipAddress("server") else {
            throw CNIError(code: .decodingFailure, msg: "lease lacks its address or server")
        }
        var routes: [DHCPRoute] = []
        for route in try reader.objects("routes") ?? [] {
            if let destination = try route.ipPrefix("dst"), let router = try route.ipAddress("gw") {
                routes.append(DHCPRoute(destination: destination, router: router))
            }
        }
        func seconds(_ key: String) throws(CNIError) -> UInt32 { UInt32(clamping: max(0, try reader.int(key) ?? 0)) }
        return DHCPLease(
            address: address, serverIdentifier: server, leaseSeconds: try seconds("leaseSeconds"),
            renewalSeconds: try seconds("renewalSeconds"), rebindingSeconds: try seconds("rebindingSeconds"),
            routers: (try reader.strings("routers") ?? []).compactMap { IPAddress($0) }, routes: routes,
            dnsServers: (try reader.strings("dns") ?? []).compactMap { IPAddress($0) },
            domainName: try reader.string("domain"), searchDomains: try reader.strings("search") ?? [],
            mtu: try reader.int("mtu").map { UInt16(clamping: $0) })
    }

    /// The CNI result for the leases of an attachment: the DHCPv4 address with the first router
    /// as gateway and the routes (on-link ones without a gateway); the DHCPv6 address as /128
    /// with the advertised router as gateway (the kernel installs that default route itself:
    /// no route is added for it); the DNS servers and search lists of both.
    static func result(_ lease: DHCPLease?, _ lease6: (lease: DHCPv6Lease, router: IPAddress?)?, cniVersion: String)
        -> CNIResult
    {
        var result = CNIResult(cniVersion: cniVersion)
        var nameservers: [String] = []
        var search: [String] = []
        if let lease {
            result.ips.append(CNIResult.IPConfig(address: lease.address, gateway: lease.routers.first))
            result.routes = lease.routes.map { route in
                CNIResult.Route(destination: route.destination, gateway: route.router.v4Value == 0 ? nil : route.router)
            }
            nameservers += lease.dnsServers.map(\.description)
            search += lease.searchDomains
        }
        if let (lease, router) = lease6, let address = IPPrefix(address: lease.address, prefixLength: 128) {
            result.ips.append(CNIResult.IPConfig(address: address, gateway: router))
            nameservers += lease.dnsServers.map(\.description)
            search += lease.searchDomains.filter { !search.contains($0) }
        }
        result.dns = DNS(nameservers: nameservers, domain: lease?.domainName, search: search)
        return result
    }
}
