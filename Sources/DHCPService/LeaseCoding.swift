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

    /// The CNI result for a lease: the address with the first router as gateway, the routes
    /// (on-link ones without a gateway) and the DNS settings.
    static func result(_ lease: DHCPLease, cniVersion: String) -> CNIResult {
        var result = CNIResult(cniVersion: cniVersion)
        result.ips = [CNIResult.IPConfig(address: lease.address, gateway: lease.routers.first)]
        result.routes = lease.routes.map { route in
            CNIResult.Route(destination: route.destination, gateway: route.router.v4Value == 0 ? nil : route.router)
        }
        result.dns = DNS(
            nameservers: lease.dnsServers.map(\.description), domain: lease.domainName, search: lease.searchDomains)
        return result
    }
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
        for entry in try reader.objects("valid") ?? [] {
            validAttachments.append(
                Attachment(containerID: try entry.string("containerID") ?? "", ifName: try entry.string("ifname") ?? "")
            )
        }
    }
}
