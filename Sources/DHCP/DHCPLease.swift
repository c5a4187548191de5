import Addressing

/// A route a DHCP server gave (option 121, or 33/3).
public struct DHCPRoute: Sendable, Equatable, Hashable {
    public var destination: IPPrefix
    /// 0.0.0.0 means on-link (RFC 3442).
    public var router: IPAddress

    public init(destination: IPPrefix, router: IPAddress) {
        self.destination = destination
        self.router = router
    }
}

/// What an ACK grants, read from its options.
public struct DHCPLease: Sendable, Equatable {
    public var address: IPPrefix
    public var serverIdentifier: IPAddress
    public var leaseSeconds: UInt32
    /// T1 and T2 (options 58/59), defaulting to 50% and 87.5% of the lease (RFC 2131 4.4.5).
    public var renewalSeconds: UInt32
    public var rebindingSeconds: UInt32
    public var routers: [IPAddress]
    /// Option 121 when the server sent it, else option 33 and a default route via the first router.
    public var routes: [DHCPRoute]
    public var dnsServers: [IPAddress]
    public var domainName: String?
    public var searchDomains: [String]
    /// The server's DNS values that were not valid domain names and were dropped (each as a
    /// log line shows it), for the daemon to report with the server.
    public var refusedValues: [String] = []
    public var mtu: UInt16?

    public init(
        address: IPPrefix, serverIdentifier: IPAddress, leaseSeconds: UInt32, renewalSeconds: UInt32,
        rebindingSeconds: UInt32, routers: [IPAddress] = [], routes: [DHCPRoute] = [], dnsServers: [IPAddress] = [],
        domainName: String? = nil, searchDomains: [String] = [], mtu: UInt16? = nil
    ) {
        self.address = address
        self.serverIdentifier = serverIdentifier
        self.leaseSeconds = leaseSeconds
        self.renewalSeconds = renewalSeconds
        self.rebindingSeconds = rebindingSeconds
        self.routers = routers
        self.routes = routes
        self.dnsServers = dnsServers
        self.domainName = domainName
        self.searchDomains = searchDomains
        self.mtu = mtu
    }

    /// Reads an ACK. nil when it lacks an address or a server identifier (RFC 2131 requires both).
    public init?(ack message: DHCPMessage) {
        guard message.messageType == .ack || message.messageType == .offer else { return nil }
        let server = message.option(DHCPOptionCode.serverIdentifier).flatMap {
            $0.count == 4 ? IPAddress(bytes: $0) : nil
        }
        // An address no host can hold (0.0.0.0, broadcast, loopback, multicast, 240/4) is no
        // lease: the offer is ignored.
        guard let server, let yiaddr = message.yourAddress.v4Value, IPAddressClassification.isLeasableV4(yiaddr)
        else { return nil }
        serverIdentifier = server
        let maskLength = message.option(DHCPOptionCode.subnetMask).flatMap {
            $0.count == 4 ? Self.prefixLength(ofMask: $0) : nil
        }
        guard
            let prefix = IPPrefix(
                address: message.yourAddress, prefixLength: maskLength ?? Self.classfulLength(message.yourAddress))
        else { return nil }
        address = prefix
        (leaseSeconds, renewalSeconds, rebindingSeconds) = Self.saneTimers(
            lease: message.option(DHCPOptionCode.leaseTime).flatMap(Self.uint32),
            t1: message.option(DHCPOptionCode.renewalTime).flatMap(Self.uint32),
            t2: message.option(DHCPOptionCode.rebindingTime).flatMap(Self.uint32))
        routers = Self.addresses(message.option(DHCPOptionCode.router))
        dnsServers = Self.addresses(message.option(DHCPOptionCode.domainNameServer))
        let domain = message.option(DHCPOptionCode.domainName).map {
            String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
        }.flatMap { $0.isEmpty ? nil : $0 }
        domainName = domain.flatMap { DomainName.isValid($0) ? $0 : nil }
        if let domain, domainName == nil { refusedValues.append("domain name \(DomainName.shown(domain))") }
        let search = message.option(DHCPOptionCode.domainSearch).map(Self.decodeDomainSearch) ?? []
        searchDomains = search.filter(DomainName.isValid)
        for name in search where !DomainName.isValid(name) {
            refusedValues.append("search domain \(DomainName.shown(name))")
        }
        // Below 576 (a rogue or broken server's 68) every reply would be fragmented and the
        // lease lost at its renewal: ignored, as dhcpcd and dhclient do.
        mtu = message.option(DHCPOptionCode.interfaceMTU).flatMap {
            $0.count == 2 ? UInt16($0[0]) << 8 | UInt16($0[1]) : nil
        }.flatMap { $0 >= Self.smallestMTU ? $0 : nil }
        if let classless = message.option(DHCPOptionCode.classlessStaticRoutes),
            let parsed = Self.decodeClasslessRoutes(classless)
        {
            routes = parsed
        } else {
            var list: [DHCPRoute] = []
            if let staticRoutes = message.option(DHCPOptionCode.staticRoutes), staticRoutes.count % 8 == 0 {
                for offset in stride(from: 0, to: staticRoutes.count, by: 8) {
                    guard let destination = IPAddress(bytes: staticRoutes[offset..<(offset + 4)]),
                        let router = IPAddress(bytes: staticRoutes[(offset + 4)..<(offset + 8)]),
                        let prefix = IPPrefix(address: destination, prefixLength: Self.classfulLength(destination))
                    else { continue }
                    list.append(DHCPRoute(destination: prefix, router: router))
                }
            }
            if let router = routers.first, let any = IPPrefix(address: IPAddress(v4: 0), prefixLength: 0) {
                list.append(DHCPRoute(destination: any, router: router))
            }
            routes = list
        }
    }

    /// The smallest interface MTU taken from option 26: IPv4's 576 (RFC 791), as dhcpcd and
    /// dhclient keep.
    public static let smallestMTU: UInt16 = 576
    /// Lease time, T1 and T2 kept to 0 < T1 < T2 < lease with the lease at least
    /// `LeaseLimits.shortestLifetime`: a missing lease is an hour; a T1 or T2 out of that order
    /// (0, past the lease, T2 before T1) is the RFC 2131 default, 50 % and 87.5 % of the lease.
    static func saneTimers(lease: UInt32?, t1: UInt32?, t2: UInt32?) -> (UInt32, UInt32, UInt32) {
        let lease = max(lease ?? 3600, LeaseLimits.shortestLifetime)
        let defaultT2 = UInt32(UInt64(lease) * 7 / 8)
        let renewal = t1.flatMap { $0 > 0 && $0 < lease ? $0 : nil } ?? lease / 2
        let rebinding = t2.flatMap { $0 > renewal && $0 < lease ? $0 : nil } ?? max(defaultT2, renewal + 1)
        return (lease, renewal, min(rebinding, lease - 1))
    }

    static func uint32(_ data: [UInt8]) -> UInt32? {
        data.count == 4 ? data.reduce(0) { $0 << 8 | UInt32($1) } : nil
    }

    static func addresses(_ data: [UInt8]?) -> [IPAddress] {
        guard let data, data.count % 4 == 0 else { return [] }
        return stride(from: 0, to: data.count, by: 4).compactMap { IPAddress(bytes: data[$0..<($0 + 4)]) }
    }

    /// A contiguous netmask's length; nil for a non-contiguous one.
    static func prefixLength(ofMask bytes: [UInt8]) -> Int? {
        let value = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let length = value.leadingZeroBitCount == 0 ? (~value).leadingZeroBitCount : 0
        let rebuilt: UInt32 = length == 0 ? 0 : ~UInt32(0) << (32 - UInt32(length))
        return rebuilt == value ? length : nil
    }

    static func classfulLength(_ address: IPAddress) -> Int {
        let first = UInt8((address.v4Value ?? 0) >> 24)
        switch first {
        case 0..<128: return 8
        case 128..<192: return 16
        default: return 24
        }
    }

    /// RFC 3442: each route is a width (0-32), the significant octets of the destination,
    /// and a router. nil when the data is malformed (the option is then ignored).
    public static func decodeClasslessRoutes(_ data: [UInt8]) -> [DHCPRoute]? {
        var routes: [DHCPRoute] = []
        var index = 0
        while index < data.count {
            let width = Int(data[index])
            guard width <= 32 else { return nil }
            let significant = (width + 7) / 8
            guard index + 1 + significant + 4 <= data.count else { return nil }
            var destination = [UInt8](repeating: 0, count: 4)
            for octet in 0..<significant { destination[octet] = data[index + 1 + octet] }
            let routerStart = index + 1 + significant
            guard let address = IPAddress(bytes: destination),
                let router = IPAddress(bytes: data[routerStart..<(routerStart + 4)]),
                let prefix = IPPrefix(address: address.masked(to: width), prefixLength: width)
            else { return nil }
            routes.append(DHCPRoute(destination: prefix, router: router))
            index = routerStart + 4
        }
        return routes
    }

    /// RFC 3397: a list of DNS names in RFC 1035 wire form, with compression pointers into
    /// the option's own data. Malformed names end the list; pointer loops are cut off.
    public static func decodeDomainSearch(_ data: [UInt8]) -> [String] {
        var names: [String] = []
        var index = 0
        while index < data.count {
            var labels: [String] = []
            var position = index
            var jumped = false
            var jumps = 0
            var next = index
            while true {
                guard position < data.count else { return names }
                let length = Int(data[position])
                if length == 0 {
                    if !jumped { next = position + 1 }
                    break
                }
                if length & 0xC0 == 0xC0 {
                    guard position + 1 < data.count, jumps < 16 else { return names }
                    let target = (length & 0x3F) << 8 | Int(data[position + 1])
                    if !jumped { next = position + 2 }
                    jumped = true
                    jumps += 1
                    guard target < data.count else { return names }
                    position = target
                    continue
                }
                guard length <= 63, position + 1 + length <= data.count else { return names }
                labels.append(String(decoding: data[(position + 1)...(position + length)], as: UTF8.self))
                position += 1 + length
            }
            if !labels.isEmpty { names.append(labels.joined(separator: ".")) }
            guard next > index else { return names }
            index = next
        }
        return names
    }
}
