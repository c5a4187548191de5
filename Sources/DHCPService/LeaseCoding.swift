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
        object["serverID"] = .string(hex(lease.serverID))
        object["preferredLifetime"] = .integer(lease.preferredLifetime)
        object["validLifetime"] = .integer(lease.validLifetime)
        object["renewalSeconds"] = .integer(lease.renewalSeconds)
        object["rebindingSeconds"] = .integer(lease.rebindingSeconds)
        object["dns"] = .array(lease.dnsServers.map { .string($0.description) })
        object["search"] = .array(lease.domainSearch.map(JSONValue.string))
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
        let serverID = stride(from: 0, to: characters.count, by: 2).compactMap {
            UInt8(String(characters[$0..<($0 + 2)]), radix: 16)
        }
        func seconds(_ key: String) throws(CNIError) -> UInt32 { UInt32(clamping: max(0, try reader.int(key) ?? 0)) }
        let lease = DHCPv6Lease(
            address: address, serverID: serverID, preferredLifetime: try seconds("preferredLifetime"),
            validLifetime: try seconds("validLifetime"), renewalSeconds: try seconds("renewalSeconds"),
            rebindingSeconds: try seconds("rebindingSeconds"),
            dnsServers: (try reader.strings("dns") ?? []).compactMap { IPAddress($0) },
            domainSearch: try reader.strings("search") ?? [])
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
            search += lease.domainSearch.filter { !search.contains($0) }
        }
        result.dns = DNS(nameservers: nameservers, domain: lease?.domainName, search: search)
        return result
    }
}

/// An address family a lease is asked for: `ipam.ipFamilies`, in the Kubernetes spelling.
enum LeaseFamily: String, Sendable, CaseIterable {
    case ipv4 = "IPv4"
    case ipv6 = "IPv6"
}

/// What a plugin asks of the daemon.
struct DaemonRequest: Sendable {
    enum Command: String, Sendable { case add, del, check, gc, status, leases }
    var command: Command
    var containerID: String = ""
    var network: String = ""
    var ifName: String = ""
    var netns: String = ""
    var hostName: String?
    /// Seconds the daemon may spend acquiring a lease.
    var timeout: Double?
    /// Option codes to request (the reference's `request` list, by code).
    var requestOptions: [UInt8] = []
    /// Options to send (the reference's `provide`): code and text value.
    var provideOptions: [(UInt8, [UInt8])] = []
    var validAttachments: [Attachment] = []
    /// Ask for `requestOptions` alone, not for our defaults too.
    var skipDefaultRequests = false
    /// The metric of the routes the daemon installs on a changed lease.
    var priority: UInt32?
    /// DHCPv4, DHCPv6 or both (leased at once; a failure of either undoes both).
    var families: [LeaseFamily] = [.ipv4]

    var key: String { "\(containerID)/\(network)/\(ifName)" }

    var json: JSONValue {
        var object = JSONObject()
        object["command"] = .string(command.rawValue)
        object["containerID"] = .string(containerID)
        object["network"] = .string(network)
        object["ifName"] = .string(ifName)
        object["netns"] = .string(netns)
        if let hostName { object["hostName"] = .string(hostName) }
        if let timeout { object["timeout"] = .number(String(timeout)) }
        if !requestOptions.isEmpty { object["request"] = .array(requestOptions.map { .integer($0) }) }
        if !provideOptions.isEmpty {
            object["provide"] = .array(
                provideOptions.map {
                    ["code": .integer($0.0), "value": .string(String(decoding: $0.1, as: UTF8.self))]
                })
        }
        if skipDefaultRequests { object["skipDefault"] = true }
        if let priority { object["priority"] = .integer(priority) }
        if families != [.ipv4] { object["ipFamilies"] = .array(families.map { .string($0.rawValue) }) }
        if !validAttachments.isEmpty || command == .gc {
            object["valid"] = .array(
                validAttachments.map { ["containerID": .string($0.containerID), "ifname": .string($0.ifName)] })
        }
        return .object(object)
    }

    init(command: Command) { self.command = command }

    init(json value: JSONValue) throws(CNIError) {
        guard let object = value.objectValue, let name = object["command"]?.stringValue,
            let command = Command(rawValue: name)
        else {
            throw CNIError(code: .decodingFailure, msg: "not a dhcp daemon request")
        }
        let reader = ConfigReader(object)
        self.command = command
        containerID = try reader.string("containerID") ?? ""
        network = try reader.string("network") ?? ""
        ifName = try reader.string("ifName") ?? ""
        netns = try reader.string("netns") ?? ""
        hostName = try reader.string("hostName")
        // Whatever a client sends, the daemon waits a finite time (its own -timeout caps it).
        timeout = reader.value("timeout")?.doubleValue.flatMap {
            $0 > 0 && $0 <= DaemonSettings.longestTimeout ? $0 : nil
        }
        requestOptions = (try reader.array("request") ?? []).compactMap { $0.integer(as: UInt8.self) }
        for entry in try reader.objects("provide") ?? [] {
            if let code = try entry.integer("code", in: UInt8(1)...254), let text = try entry.string("value") {
                provideOptions.append((code, Array(text.utf8)))
            }
        }
        skipDefaultRequests = try reader.bool("skipDefault") ?? false
        priority = try reader.uint32("priority")
        if let names = try reader.strings("ipFamilies") {
            families = LeaseFamily.allCases.filter { names.contains($0.rawValue) }
            if families.isEmpty { families = [.ipv4] }
        }
        for entry in try reader.objects("valid") ?? [] {
            validAttachments.append(
                Attachment(containerID: try entry.string("containerID") ?? "", ifName: try entry.string("ifname") ?? "")
            )
        }
    }
}
