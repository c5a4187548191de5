import Addressing
import CNI

/// One `{subnet, rangeStart, rangeEnd, gateway}` of host-local, with the reference's defaults
/// filled in: gateway and rangeStart network+1, rangeEnd the broadcast address - 1 (IPv4) or
/// the last address (IPv6).
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    public var subnet: IPPrefix
    public var rangeStart: IPAddress
    public var rangeEnd: IPAddress
    public var gateway: IPAddress?

    /// Validates as the reference does, with messages that name the values (code 7): no /31,
    /// /32, /127 or /128; no host bits in the subnet; gateway, start and end inside the subnet
    /// and start <= end.
    public init(
        subnet: IPPrefix, rangeStart: IPAddress? = nil, rangeEnd: IPAddress? = nil,
        gateway: IPAddress? = nil
    ) throws(CNIError) {
        let width = subnet.family.bitWidth
        guard subnet.prefixLength <= width - 2 else {
            throw CNIError.invalidConfig("Network \(subnet) too small to allocate from")
        }
        guard !subnet.hasHostBits else {
            throw CNIError.invalidConfig("subnet \(subnet) has host bits set; did you mean \(subnet.subnet)?")
        }
        self.subnet = subnet
        let first = subnet.network.advanced(by: 1) ?? subnet.network
        if let gateway {
            guard subnet.contains(gateway) else {
                throw CNIError.invalidConfig("gateway \(gateway) not in network \(subnet)")
            }
        }
        self.gateway = gateway ?? first
        let defaultEnd =
            subnet.family == .v4 ? (subnet.lastAddress.advanced(by: -1) ?? subnet.lastAddress) : subnet.lastAddress
        self.rangeStart = rangeStart ?? first
        self.rangeEnd = rangeEnd ?? defaultEnd
        for (name, address) in [("rangeStart", self.rangeStart), ("rangeEnd", self.rangeEnd)] {
            guard address.family == subnet.family else {
                throw CNIError.invalidConfig("\(name) \(address) is not the same protocol as subnet \(subnet)")
            }
            guard subnet.contains(address) else {
                throw CNIError.invalidConfig("\(name) \(address) not in network \(subnet)")
            }
        }
        guard self.rangeStart <= self.rangeEnd else {
            throw CNIError.invalidConfig(
                "rangeEnd \(self.rangeEnd) is in network \(subnet) but before start \(self.rangeStart)")
        }
    }

    public var family: IPAddress.Family { subnet.family }

    /// Whether `address` may be handed out from this range (inside start...end).
    public func contains(_ address: IPAddress) -> Bool {
        address.family == family && subnet.contains(address) && rangeStart <= address && address <= rangeEnd
    }

    public func overlaps(_ other: AddressRange) -> Bool {
        family == other.family && rangeStart <= other.rangeEnd && other.rangeStart <= rangeEnd
    }

    /// "10.1.2.1-10.1.2.254", as the reference prints a range.
    public var description: String { "\(rangeStart)-\(rangeEnd)" }

    /// Reads one range object; `path` names it in messages ("ipam.ranges[0][1]").
    init(_ reader: ConfigReader) throws(CNIError) {
        guard let subnet = try reader.ipPrefix("subnet") else {
            throw CNIError.invalidConfig("\"\(reader.keyPath("subnet"))\" missing")
        }
        do {
            try self.init(
                subnet: subnet, rangeStart: try reader.ipAddress("rangeStart"),
                rangeEnd: try reader.ipAddress("rangeEnd"), gateway: try reader.ipAddress("gateway"))
        } catch {
            throw CNIError.invalidConfig("\(reader.path): \(error.msg)", details: error.details)
        }
    }
}

/// A list of ranges of one family that together give one address (host-local `ranges[i]`).
public struct RangeSet: Sendable, Equatable, CustomStringConvertible {
    public var ranges: [AddressRange]

    /// Code 7 for an empty set, mixed families or overlapping ranges.
    public init(_ ranges: [AddressRange], path: String) throws(CNIError) {
        guard let first = ranges.first else { throw CNIError.invalidConfig("\(path): empty range set") }
        guard ranges.allSatisfy({ $0.family == first.family }) else {
            throw CNIError.invalidConfig("\(path): mixed address families")
        }
        for (i, a) in ranges.enumerated() {
            for b in ranges[(i + 1)...] where a.overlaps(b) {
                throw CNIError.invalidConfig("\(path): subnets \(a) and \(b) overlap")
            }
        }
        self.ranges = ranges
    }

    public var family: IPAddress.Family { ranges[0].family }

    public func range(containing address: IPAddress) -> AddressRange? {
        ranges.first { $0.contains(address) }
    }

    public func overlaps(_ other: RangeSet) -> Bool {
        ranges.contains { a in other.ranges.contains { a.overlaps($0) } }
    }

    public var description: String { ranges.map(\.description).joined(separator: ",") }
}
