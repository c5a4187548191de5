import Addressing

/// A condition `nft` would take but this compiler does not: which words, and why.
public struct NftablesConditionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var condition: String
    public var reason: String

    public var description: String { "\"\(condition)\": \(reason)" }
}

extension NftablesRuleBody {
    /// Appends match conditions written in nft's syntax (portmap's `conditionsV4` /
    /// `conditionsV6`: words such as `["ip", "saddr", "!=", "10.0.0.0/8"]`), compiled in the
    /// process. Understood, each any number of times and with `==` or `!=`:
    ///
    /// - `ip saddr|daddr A[/L]` (an IPv4 table), `ip6 saddr|daddr A[/L]` (an IPv6 table);
    /// - `iifname|oifname NAME` and `meta iifname|oifname NAME` (quotes optional).
    ///
    /// Anything else throws, naming the words: without `nft` there is no other compiler.
    public mutating func appendConditions(_ words: [String], family: IPAddress.Family) throws(NftablesConditionError) {
        let tokens = words.flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }
        var index = 0
        func fail(_ from: Int, _ reason: String) -> NftablesConditionError {
            NftablesConditionError(
                condition: tokens[from..<min(tokens.count, from + 4)].joined(separator: " "), reason: reason)
        }
        while index < tokens.count {
            let start = index
            var keyword = tokens[index]
            index += 1
            if keyword == "meta" {
                guard index < tokens.count else { throw fail(start, "meta needs a key") }
                keyword = tokens[index]
                index += 1
                guard keyword == "iifname" || keyword == "oifname" else {
                    throw fail(start, "only meta iifname and oifname are understood")
                }
            }
            switch keyword {
            case "ip", "ip6":
                guard (keyword == "ip") == (family == .v4) else {
                    throw fail(start, "\(keyword) does not match an IPv\(family == .v4 ? 4 : 6) table")
                }
                guard index < tokens.count, tokens[index] == "saddr" || tokens[index] == "daddr" else {
                    throw fail(start, "only \(keyword) saddr and daddr are understood")
                }
                let field: AddressField = tokens[index] == "saddr" ? .source : .destination
                index += 1
                let equal = Self.readOperator(tokens, &index)
                guard index < tokens.count else { throw fail(start, "an address is missing") }
                let text = tokens[index]
                index += 1
                if let prefix = IPPrefix(text), text.contains("/") {
                    guard prefix.family == family else {
                        throw fail(start, "\(text) is not an IPv\(family == .v4 ? 4 : 6) prefix")
                    }
                    address(field, equal: equal, prefix)
                } else if let address = IPAddress(text) {
                    guard address.family == family else {
                        throw fail(start, "\(text) is not an IPv\(family == .v4 ? 4 : 6) address")
                    }
                    self.address(field, equal: equal, address)
                } else {
                    throw fail(start, "\(text) is not an address or prefix")
                }
            case "iifname", "oifname":
                let equal = Self.readOperator(tokens, &index)
                guard index < tokens.count else { throw fail(start, "an interface name is missing") }
                var name = Substring(tokens[index])
                index += 1
                if name.count >= 2, name.first == "\"", name.last == "\"" { name = name.dropFirst().dropLast() }
                guard !name.isEmpty, name.utf8.count < 16, !name.contains("*"), !name.contains("\"") else {
                    throw fail(start, "\(name) is not an interface name (1-15 bytes, no wildcard)")
                }
                interfaceName(input: keyword == "iifname", equal: equal, String(name))
            default:
                throw fail(start, "not understood (ip/ip6 saddr/daddr and iifname/oifname are)")
            }
        }
    }

    /// An optional `==` or `!=` (`eq`, `ne`); true for equal.
    private static func readOperator(_ tokens: [String], _ index: inout Int) -> Bool {
        guard index < tokens.count else { return true }
        switch tokens[index] {
        case "==", "eq":
            index += 1
            return true
        case "!=", "ne":
            index += 1
            return false
        default:
            return true
        }
    }
}
