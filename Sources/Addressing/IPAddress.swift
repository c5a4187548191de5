/// An IPv4 or IPv6 address, stored as 128 bits (IPv4 in the low 32), with the family beside it.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public enum Family: Sendable, Hashable {
        case v4, v6
        /// Bits in an address of this family.
        public var bitWidth: Int { self == .v4 ? 32 : 128 }
        /// The byte count on the wire.
        public var byteCount: Int { self == .v4 ? 4 : 16 }
    }

    public let family: Family
    /// The address as an integer: for IPv4 only the low 32 bits are used.
    public let high: UInt64
    public let low: UInt64

    public init(v4 value: UInt32) {
        family = .v4
        high = 0
        low = UInt64(value)
    }

    public init(v6High high: UInt64, low: UInt64) {
        family = .v6
        self.high = high
        self.low = low
    }

    /// An address from its network-order bytes: 4 for IPv4, 16 for IPv6; nil for any other count.
    public init?(bytes: some Collection<UInt8>) {
        let array = Array(bytes)
        switch array.count {
        case 4:
            self.init(v4: array.reduce(0) { $0 << 8 | UInt32($1) })
        case 16:
            self.init(
                v6High: array[0..<8].reduce(0) { $0 << 8 | UInt64($1) },
                low: array[8..<16].reduce(0) { $0 << 8 | UInt64($1) })
        default:
            return nil
        }
    }

    /// Network-order bytes.
    public var bytes: [UInt8] {
        switch family {
        case .v4: (0..<4).map { UInt8(truncatingIfNeeded: low >> (24 - 8 * UInt64($0))) }
        case .v6:
            (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
                + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
        }
    }

    public var v4Value: UInt32? { family == .v4 ? UInt32(truncatingIfNeeded: low) : nil }

    /// 0.0.0.0 or `::`.
    public var isUnspecified: Bool { high == 0 && low == 0 }

    /// Parses dotted-quad IPv4 ("10.1.2.3": four decimal parts 0-255, no leading zeros) or
    /// IPv6 text (RFC 4291 2.2: "::" compression, an embedded dotted quad at the end).
    public init?(_ text: Substring) {
        if text.utf8.contains(UInt8(ascii: ":")) {
            guard let (high, low) = IPAddress.parseV6(text) else { return nil }
            self.init(v6High: high, low: low)
        } else {
            guard let value = IPAddress.parseV4(text) else { return nil }
            self.init(v4: value)
        }
    }

    /// `init?(_:)` of a String. The concrete overloads keep callers off the generic one, whose
    /// unspecialized body resolves the text's types at run time (the first call of a plugin
    /// spent ~0.1 ms there, in callgrind).
    public init?(_ text: String) { self.init(Substring(text)) }

    /// `init?(_:)` of any other text.
    public init?(_ text: some StringProtocol) { self.init(Substring(text)) }

    /// One pass over the UTF-8 bytes (stores and configs parse thousands of these).
    static func parseV4(_ text: Substring) -> UInt32? {
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var dots = 0
        var leadingZero = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "."):
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | octet
                dots += 1
                octet = 0
                digits = 0
                leadingZero = false
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard !leadingZero, digits < 3 else { return nil }  // "01", "1234"
                if digits == 0 && byte == UInt8(ascii: "0") { leadingZero = true }
                digits += 1
                octet = octet * 10 + UInt32(byte - UInt8(ascii: "0"))
                guard octet <= 255 else { return nil }
            default:
                return nil
            }
        }
        guard digits > 0, dots == 3 else { return nil }
        return value << 8 | octet
    }

    static func parseV6(_ text: Substring) -> (UInt64, UInt64)? {
        var groups: [UInt16] = []
        var tail = text
        var embeddedV4: UInt32?
        // An IPv4 tail ("::ffff:1.2.3.4") stands for the last two groups.
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard let v4 = parseV4(text[text.index(after: lastColon)...]) else { return nil }
            embeddedV4 = v4
            tail = text[...lastColon]
            if tail.hasSuffix(":") && !tail.hasSuffix("::") { tail = tail.dropLast() }
        }
        let halves = tail.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func parseGroups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !group.isEmpty, group.count <= 4, let value = UInt16(group, radix: 16),
                    group.allSatisfy(\.isHexDigit)
                else { return nil }
                result.append(value)
            }
            return result
        }
        let extra = embeddedV4 == nil ? 0 : 2
        guard let head = parseGroups(halves[0]) else { return nil }
        if halves.count == 2 {
            guard let rest = parseGroups(halves[1]) else { return nil }
            let missing = 8 - extra - head.count - rest.count
            guard missing >= 1 else { return nil }
            groups = head + Array(repeating: 0, count: missing) + rest
        } else {
            groups = head
            guard groups.count + extra == 8 else { return nil }
        }
        if let v4 = embeddedV4 { groups += [UInt16(v4 >> 16), UInt16(v4 & 0xFFFF)] }
        guard groups.count == 8 else { return nil }
        let high = groups[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let low = groups[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return (high, low)
    }

    /// Dotted quad for IPv4; RFC 5952 text for IPv6 (lower case, the longest run of two or
    /// more zero groups as "::", IPv4-mapped addresses with a dotted tail).
    public var description: String {
        switch family {
        case .v4:
            let v = UInt32(truncatingIfNeeded: low)
            return "\(v >> 24).\(v >> 16 & 0xFF).\(v >> 8 & 0xFF).\(v & 0xFF)"
        case .v6:
            if high == 0, low >> 32 == 0xFFFF {
                return "::ffff:" + IPAddress(v4: UInt32(truncatingIfNeeded: low)).description
            }
            let groups =
                (0..<4).map { UInt16(truncatingIfNeeded: high >> (48 - 16 * UInt64($0))) }
                + (0..<4).map { UInt16(truncatingIfNeeded: low >> (48 - 16 * UInt64($0))) }
            var bestStart = -1
            var bestLength = 0
            var runStart = -1
            for index in 0...8 {
                if index < 8, groups[index] == 0 {
                    if runStart < 0 { runStart = index }
                } else if runStart >= 0 {
                    if index - runStart > bestLength {
                        bestStart = runStart
                        bestLength = index - runStart
                    }
                    runStart = -1
                }
            }
            if bestLength < 2 { return groups.map { String($0, radix: 16) }.joined(separator: ":") }
            let head = groups[0..<bestStart].map { String($0, radix: 16) }.joined(separator: ":")
            let tail = groups[(bestStart + bestLength)...].map { String($0, radix: 16) }.joined(separator: ":")
            return head + "::" + tail
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.family != rhs.family { return lhs.family == .v4 }
        return (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// The address `offset` further on (negative: back), or nil when that leaves the family's range.
    public func advanced(by offset: Int64) -> IPAddress? {
        switch family {
        case .v4:
            let (result, overflow) = Int64(low).addingReportingOverflow(offset)
            guard !overflow, result >= 0, result <= Int64(UInt32.max) else { return nil }
            return IPAddress(v4: UInt32(result))
        case .v6:
            var newLow = low
            var newHigh = high
            if offset >= 0 {
                let (sum, overflow) = low.addingReportingOverflow(UInt64(offset))
                newLow = sum
                if overflow {
                    guard high < UInt64.max else { return nil }
                    newHigh = high + 1
                }
            } else {
                let (difference, overflow) = low.subtractingReportingOverflow(offset.magnitude)
                newLow = difference
                if overflow {
                    guard high > 0 else { return nil }
                    newHigh = high - 1
                }
            }
            return IPAddress(v6High: newHigh, low: newLow)
        }
    }

    /// The address with every bit past `prefixLength` cleared (`set: false`) or set (`set: true`).
    public func masked(to prefixLength: Int, settingHostBits set: Bool = false) -> IPAddress {
        let width = family.bitWidth
        let hostBits = max(0, width - max(0, prefixLength))
        let lowHost: UInt64 = hostBits >= 64 ? UInt64.max : (hostBits == 0 ? 0 : (UInt64(1) << UInt64(hostBits)) - 1)
        let highHost: UInt64 =
            hostBits <= 64 ? 0 : (hostBits >= 128 ? UInt64.max : (UInt64(1) << UInt64(hostBits - 64)) - 1)
        switch family {
        case .v4:
            let mask = UInt64(UInt32.max) & ~lowHost
            let value = set ? (low | lowHost) & UInt64(UInt32.max) : low & mask
            return IPAddress(v4: UInt32(truncatingIfNeeded: value))
        case .v6:
            return set
                ? IPAddress(v6High: high | highHost, low: low | lowHost)
                : IPAddress(v6High: high & ~highHost, low: low & ~lowHost)
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension StringProtocol {
    func components(separatedBy separator: String) -> [Substring] {
        var parts: [Substring] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            parts.append(rest[..<range.lowerBound])
            rest = rest[range.upperBound...]
        }
        parts.append(rest)
        return parts
    }
}
