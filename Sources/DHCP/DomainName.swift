/// What a DHCP server may put in a CNI result's DNS fields (DHCPv4 options 15 and 119,
/// DHCPv6 option 24): a consumer writes them into resolv.conf, so a server's newline, space or
/// control character must never reach it.
public enum DomainName {
    /// RFC 1035 2.3.1's syntax as resolvers take it: labels of 1 to 63 letters, digits, `-`
    /// (not first or last) or `_` (service labels), joined by dots, at most 253 characters,
    /// one trailing dot allowed (RFC 1123 allows a leading digit).
    public static func isValid(_ name: String) -> Bool {
        var text = Substring(name)
        if text.hasSuffix(".") { text = text.dropLast() }
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        for label in text.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            guard (1...63).contains(bytes.count), bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-")
            else { return false }
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                    continue
                default: return false
                }
            }
        }
        return true
    }

    /// A refused value as a log line may show it: quoted, control characters and quotes
    /// escaped, at most 80 characters of it.
    public static func shown(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars.prefix(80) {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\"", "\\": result += "\\" + String(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    result += "\\x" + String(scalar.value, radix: 16)
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + (text.unicodeScalars.count > 80 ? "...\"" : "\"")
    }
}

/// Which addresses a server may lease to a container.
public enum IPAddressClassification {
    /// An IPv4 address a host can be given (yiaddr): not 0.0.0.0, the broadcast address,
    /// loopback (127/8), multicast (224/4) or the reserved 240/4.
    public static func isLeasableV4(_ value: UInt32) -> Bool {
        let first = value >> 24
        return value != 0 && first != 127 && first < 224
    }

    /// An IPv6 address a host can be given (IAADDR, RFC 8415 21.6 and RFC 4291 2.4): global
    /// or unique-local unicast; not unspecified, loopback, link-local (fe80::/10), multicast
    /// (ff00::/8), IPv4-mapped (::ffff:0:0/96) or IPv4-compatible (::/96).
    public static func isLeasableV6(high: UInt64, low: UInt64) -> Bool {
        if high == 0 && (low >> 32 == 0 || low >> 32 == 0xffff) { return false }  // ::/96, ::1, ::ffff:0:0/96
        if high >> 54 == 0x3fa { return false }  // fe80::/10
        if high >> 56 == 0xff { return false }  // ff00::/8
        return true
    }
}
