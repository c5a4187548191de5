import Addressing
import JSON

/// DNS settings (§5 `dns`): written into results, read from configs.
public struct DNS: Sendable, Equatable {
    public var nameservers: [String] = []
    public var domain: String?
    public var search: [String] = []
    public var options: [String] = []

    public init(nameservers: [String] = [], domain: String? = nil, search: [String] = [], options: [String] = []) {
        self.nameservers = nameservers
        self.domain = domain
        self.search = search
        self.options = options
    }

    public init(_ reader: ConfigReader) throws(CNIError) {
        nameservers = try reader.strings("nameservers") ?? []
        domain = try reader.string("domain")
        search = try reader.strings("search") ?? []
        options = try reader.strings("options") ?? []
    }

    public var isEmpty: Bool { nameservers.isEmpty && (domain ?? "").isEmpty && search.isEmpty && options.isEmpty }

    public var json: JSONValue {
        var object = JSONObject()
        if !nameservers.isEmpty { object["nameservers"] = .array(nameservers.map(JSONValue.string)) }
        if let domain, !domain.isEmpty { object["domain"] = .string(domain) }
        if !search.isEmpty { object["search"] = .array(search.map(JSONValue.string)) }
        if !options.isEmpty { object["options"] = .array(options.map(JSONValue.string)) }
        return .object(object)
    }
}

/// A result in the form of spec 1.1.0, whatever version it was read from or will be written
/// as: `serialized(as:)` converts it the way libcni does (D6).
public struct CNIResult: Sendable, Equatable {
    public struct Interface: Sendable, Equatable {
        public var name: String
        public var mac: String?
        public var mtu: Int?
        public var sandbox: String?
        public var socketPath: String?
        public var pciID: String?

        public init(
            name: String, mac: String? = nil, mtu: Int? = nil, sandbox: String? = nil,
            socketPath: String? = nil, pciID: String? = nil
        ) {
            self.name = name
            self.mac = mac
            self.mtu = mtu
            self.sandbox = sandbox
            self.socketPath = socketPath
            self.pciID = pciID
        }
    }

    public struct IPConfig: Sendable, Equatable {
        /// The address with its prefix length, host bits kept.
        public var address: IPPrefix
        public var gateway: IPAddress?
        /// Index into `interfaces`.
        public var interface: Int?

        public init(address: IPPrefix, gateway: IPAddress? = nil, interface: Int? = nil) {
            self.address = address
            self.gateway = gateway
            self.interface = interface
        }
    }

    public struct Route: Sendable, Equatable {
        public var destination: IPPrefix
        public var gateway: IPAddress?
        /// RTAX_MTU, RTAX_ADVMSS, RTA_PRIORITY, RTA_TABLE: the kernel's unsigned 32-bit values.
        public var mtu: UInt32?
        public var advertisedMSS: UInt32?
        public var priority: UInt32?
        public var table: UInt32?
        /// rtm_scope: 0 (universe) to 255.
        public var scope: UInt8?

        public init(
            destination: IPPrefix, gateway: IPAddress? = nil, mtu: UInt32? = nil, advertisedMSS: UInt32? = nil,
            priority: UInt32? = nil, table: UInt32? = nil, scope: UInt8? = nil
        ) {
            self.destination = destination
            self.gateway = gateway
            self.mtu = mtu
            self.advertisedMSS = advertisedMSS
            self.priority = priority
            self.table = table
            self.scope = scope
        }
    }

    /// The version the result was read at (or will be printed as, when set by a plugin).
    public var cniVersion: String
    public var interfaces: [Interface] = []
    public var ips: [IPConfig] = []
    public var routes: [Route] = []
    public var dns = DNS()

    public init(
        cniVersion: String, interfaces: [Interface] = [], ips: [IPConfig] = [], routes: [Route] = [], dns: DNS = DNS()
    ) {
        self.cniVersion = cniVersion
        self.interfaces = interfaces
        self.ips = ips
        self.routes = routes
        self.dns = dns
    }
}

/// Why a result could not be read or written at a version.
public struct ResultConversionError: Error, Sendable, Equatable, CustomStringConvertible, CNIErrorConvertible {
    public var description: String
    public init(description: String) { self.description = description }
    public var cniError: CNIError { CNIError(code: .incompatibleVersion, msg: description) }
}

extension CNIResult {
    /// Reads a result of any supported version (D6 parsers). A missing `cniVersion` takes the
    /// config's (D7). 1.2.0 and other unknown versions are refused.
    public init(json: JSONValue, defaultVersion: String) throws(ResultConversionError) {
        guard let object = json.objectValue else {
            throw ResultConversionError(description: "result is \(json.kindName), not an object")
        }
        let versionText = object["cniVersion"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? defaultVersion
        guard CNIVersion.supported.contains(versionText) || versionText.isEmpty,
            let version = CNIVersion(parsing: versionText)
        else {
            throw ResultConversionError(description: "unsupported CNI result version \"\(versionText)\"")
        }
        self.init(cniVersion: versionText)
        let reader = ConfigReader(object, path: "result")
        do {
            if let dnsReader = try reader.object("dns") { dns = try DNS(dnsReader) }
            if version.resultLayout == .legacy {
                for key in ["ip4", "ip6"] {
                    guard let ipReader = try reader.object(key) else { continue }
                    guard let address = try ipReader.ipPrefix("ip") else {
                        throw CNIError.invalidConfig("\"\(ipReader.path).ip\" missing")
                    }
                    ips.append(IPConfig(address: address, gateway: try ipReader.ipAddress("gateway")))
                    for routeReader in try ipReader.objects("routes") ?? [] {
                        routes.append(try Self.route(routeReader))
                    }
                }
            } else {
                for interfaceReader in try reader.objects("interfaces") ?? [] {
                    interfaces.append(
                        Interface(
                            name: try interfaceReader.string("name") ?? "", mac: try interfaceReader.string("mac"),
                            mtu: try interfaceReader.integer("mtu", in: 0...Int(UInt32.max)),
                            sandbox: try interfaceReader.string("sandbox"),
                            socketPath: try interfaceReader.string("socketPath"),
                            pciID: try interfaceReader.string("pciID")))
                }
                for ipReader in try reader.objects("ips") ?? [] {
                    guard let address = try ipReader.ipPrefix("address") else {
                        throw CNIError.invalidConfig("\"\(ipReader.path).address\" missing")
                    }
                    ips.append(
                        IPConfig(
                            address: address, gateway: try ipReader.ipAddress("gateway"),
                            interface: try ipReader.integer("interface", in: 0...Int(Int32.max))))
                }
                for routeReader in try reader.objects("routes") ?? [] {
                    routes.append(try Self.route(routeReader))
                }
            }
        } catch {
            throw ResultConversionError(description: String(describing: error))
        }
    }

    private static func route(_ reader: ConfigReader) throws(CNIError) -> Route {
        guard let destination = try reader.ipPrefix("dst") else {
            throw CNIError.invalidConfig("\"\(reader.path).dst\" missing")
        }
        return try Route(destination: destination, gateway: try reader.ipAddress("gw"), reading: reader)
    }

    /// The result as JSON at `version`, converted as libcni converts (D6), with one exception:
    /// 0.1.0/0.2.0 hold one IPv4 and one IPv6 address, and where libcni keeps the first of each
    /// family and drops the rest without a word, a result with more than one address of a
    /// family fails here (code 1) instead of reporting less than was configured. 0.3.x/0.4.0
    /// add `version` to each IP and drop the 1.x-only fields.
    public func json(as versionText: String) throws(ResultConversionError) -> JSONValue {
        guard let version = CNIVersion(parsing: versionText),
            CNIVersion.supported.contains(versionText) || versionText.isEmpty
        else {
            throw ResultConversionError(
                description: "no converter for CNI result version \(cniVersion) to \(versionText)")
        }
        var object = JSONObject()
        object["cniVersion"] = .string(versionText)
        switch version.resultLayout {
        case .legacy:
            let firstV4 = ips.first { $0.address.family == .v4 }
            let firstV6 = ips.first { $0.address.family == .v6 }
            guard firstV4 != nil || firstV6 != nil else {
                throw ResultConversionError(description: "cannot convert: no valid IP addresses")
            }
            for family in [IPAddress.Family.v4, .v6] {
                let addresses = ips.filter { $0.address.family == family }.map(\.address.description)
                if addresses.count > 1 {
                    throw ResultConversionError(
                        description:
                            "cannot convert to \(versionText): it holds one \(family == .v4 ? "IPv4" : "IPv6") address, the result has \(addresses.count) (\(addresses.joined(separator: ", "))); use cniVersion 0.3.0 or later"
                    )
                }
            }
            for (key, ip) in [("ip4", firstV4), ("ip6", firstV6)] {
                guard let ip else { continue }
                var entry = JSONObject()
                entry["ip"] = .string(ip.address.description)
                if let gateway = ip.gateway { entry["gateway"] = .string(gateway.description) }
                let familyRoutes = routes.filter { $0.destination.family == ip.address.family }
                if !familyRoutes.isEmpty {
                    entry["routes"] = .array(
                        familyRoutes.map { route in
                            var routeObject = JSONObject()
                            routeObject["dst"] = .string(route.destination.description)
                            if let gateway = route.gateway { routeObject["gw"] = .string(gateway.description) }
                            return .object(routeObject)
                        })
                }
                object[key] = .object(entry)
            }
            object["dns"] = dns.json
        case .v04, .v1:
            let isV1 = version.resultLayout == .v1
            if !interfaces.isEmpty {
                object["interfaces"] = .array(
                    interfaces.map { interface in
                        var entry = JSONObject()
                        entry["name"] = .string(interface.name)
                        if let mac = interface.mac, !mac.isEmpty { entry["mac"] = .string(mac) }
                        if isV1, let mtu = interface.mtu, mtu != 0 { entry["mtu"] = .integer(mtu) }
                        if let sandbox = interface.sandbox, !sandbox.isEmpty { entry["sandbox"] = .string(sandbox) }
                        if isV1, let socketPath = interface.socketPath, !socketPath.isEmpty {
                            entry["socketPath"] = .string(socketPath)
                        }
                        if isV1, let pciID = interface.pciID, !pciID.isEmpty { entry["pciID"] = .string(pciID) }
                        return .object(entry)
                    })
            }
            if !ips.isEmpty {
                object["ips"] = .array(
                    ips.map { ip in
                        var entry = JSONObject()
                        if !isV1 { entry["version"] = .string(ip.address.family == .v4 ? "4" : "6") }
                        if let interface = ip.interface { entry["interface"] = .integer(interface) }
                        entry["address"] = .string(ip.address.description)
                        if let gateway = ip.gateway { entry["gateway"] = .string(gateway.description) }
                        return .object(entry)
                    })
            }
            if !routes.isEmpty {
                object["routes"] = .array(
                    routes.map { route in
                        var entry = JSONObject()
                        entry["dst"] = .string(route.destination.description)
                        if let gateway = route.gateway { entry["gw"] = .string(gateway.description) }
                        if isV1 {
                            if let mtu = route.mtu, mtu != 0 { entry["mtu"] = .integer(mtu) }
                            if let mss = route.advertisedMSS, mss != 0 { entry["advmss"] = .integer(mss) }
                            if let priority = route.priority, priority != 0 { entry["priority"] = .integer(priority) }
                            if let table = route.table { entry["table"] = .integer(table) }
                            if let scope = route.scope { entry["scope"] = .integer(scope) }
                        }
                        return .object(entry)
                    })
            }
            if !isV1 || !dns.isEmpty { object["dns"] = dns.json }
        }
        return .object(object)
    }
}

extension CNIResult.Route {
    /// A route's optional numbers from a config or result object, each range-checked (code 7
    /// naming the key): `mtu`, `advmss`, `priority`, `table` 0 to 2^32-1, `scope` 0 to 255.
    public init(destination: IPPrefix, gateway: IPAddress?, reading reader: ConfigReader) throws(CNIError) {
        self.init(
            destination: destination, gateway: gateway, mtu: try reader.uint32("mtu"),
            advertisedMSS: try reader.uint32("advmss"), priority: try reader.uint32("priority"),
            table: try reader.uint32("table"), scope: try reader.integer("scope", in: 0...UInt8.max))
    }
}
