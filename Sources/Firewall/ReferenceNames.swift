import POSIX

/// One attachment's firewall objects, named exactly as the reference plugins (v1.1 to v1.9)
/// name theirs, so that either implementation's DEL and GC find what the other's ADD made.
public struct FirewallAttachment: Sendable, Equatable, Hashable {
    public let network: String
    public let containerID: String
    public let ifName: String

    public init(network: String, containerID: String, ifName: String) {
        self.network = network
        self.containerID = containerID
        self.ifName = ifName
    }

    /// Byte for byte (see `ExactName`).
    public static func == (left: FirewallAttachment, right: FirewallAttachment) -> Bool {
        ExactName.equal(left.network, right.network) && ExactName.equal(left.containerID, right.containerID)
            && ExactName.equal(left.ifName, right.ifName)
    }

    public func hash(into hasher: inout Hasher) {
        for name in [network, containerID, ifName] { ExactName.hash(name, into: &hasher) }
    }

    /// The names our 0.1.0 release used (`SCNI-…` chains, `scni_…` tables): still removed by
    /// DEL and GC, so a node upgraded from it leaks nothing.
    public var legacyTag: AttachmentTag { AttachmentTag(network: network, containerID: containerID, ifName: ifName) }

    // MARK: iptables (pkg/ip/ipmasq_iptables_linux.go; pkg/utils FormatChainName, FormatComment)

    /// `CNI-` and SHA-512 hex of network + container id, 28 characters in all. The reference's
    /// iptables masquerade ignores the interface name.
    public var iptablesChain: String { ReferenceNames.chain(network + containerID) }

    /// `name: "<network>" id: "<container id>"`, each quoted as Go's %q does.
    public var iptablesComment: String { ReferenceNames.iptablesComment(network: network, containerID: containerID) }

    // MARK: nftables (pkg/ip/ipmasq_nftables_linux.go, upstream v1.6 and later)

    /// `<16 hex of the network>-<16 hex of "<ifname>:<container id>">`: the start of every
    /// masquerade rule's comment for this attachment.
    public var nftablesHash: String {
        ReferenceNames.networkHash(network) + "-" + ReferenceNames.hex(ifName + ":" + containerID, length: 16)
    }

    /// `<hash>, net: <network>, if: <ifname>, id: <container id>` without double quotes or
    /// control characters, at most 128 bytes (knftables' comment limit), cut between characters.
    public var nftablesComment: String {
        let text =
            "\(nftablesHash), net: \(ReferenceNames.unquoted(network)), if: \(ReferenceNames.unquoted(ifName)), id: \(ReferenceNames.unquoted(containerID))"
        return ReferenceNames.prefix(text, bytes: 128)
    }

    // MARK: MAC spoof check (pkg/link/spoofcheck.go)

    /// `<container id>-<ifname>`: the bridge plugin's uniqueID.
    var spoofReference: String { ReferenceNames.jsonText(containerID + "-" + ifName) }
    public var spoofInterfaceChain: String { "cni-br-iface-" + spoofReference }
    public var spoofMACChain: String { spoofInterfaceChain + "-mac" }
    public var spoofComment: String { "macspoofchk-" + spoofReference }
}

/// The reference's naming rules.
public enum ReferenceNames {
    /// The inet table, and its chains, of the reference's nftables masquerade.
    public static let masqueradeTable = "cni_plugins_masquerade"
    public static let masqueradeChain = "masq_checks"
    public static let masqueradeTableComment = "Masquerading for plugins from github.com/containernetworking/plugins"
    public static let masqueradeChainComment =
        "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet"

    /// `CNI-` + SHA-512 hex, cut to 28 characters (MustFormatHashWithPrefix).
    static func chain(_ text: String) -> String { "CNI-" + hex(text, length: 24) }

    /// `CNI-<prefix>` + SHA-512 hex of `text`, 28 characters in all
    /// (MustFormatChainNameWithPrefix): portmap's `CNI-DN-…` and the old `CNI-SN-…`.
    static func chain(_ text: String, prefix: String) -> String {
        "CNI-" + prefix + hex(text, length: 24 - prefix.utf8.count)
    }

    static func hex(_ text: String, length: Int) -> String { String(SHA512.hex(text).prefix(length)) }

    /// The first 16 hex digits of the network's SHA-512: every nftables masquerade comment of
    /// the network starts with it.
    public static func networkHash(_ network: String) -> String { hex(network, length: 16) }

    public static func iptablesComment(network: String, containerID: String) -> String {
        "name: \(goQuoted(network)) id: \(goQuoted(containerID))"
    }

    /// Go's `%q` (strconv.Quote): double quotes, with `"` and `\` escaped, the usual control
    /// escapes, other control characters and invalid UTF-8 as `\x..`, printable Unicode kept.
    static func goQuoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\u{07}": result += "\\a"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{0B}": result += "\\v"
            default:
                if RawName.isRawByte(scalar) {
                    // A byte that is not UTF-8, as Go's %q writes one.
                    let digits = String(scalar.value & 0xff, radix: 16)
                    result += "\\x" + (digits.count < 2 ? "0" : "") + digits
                } else if scalar.value < 0x20 || scalar.value == 0x7f {
                    let digits = String(scalar.value, radix: 16)
                    result += "\\x" + (digits.count < 2 ? "0" : "") + digits
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    /// Without double quotes (what the reference strips from nftables comments); control
    /// characters go too, since no nft string may hold them; bytes that are not UTF-8 as U+FFFD
    /// (see `jsonText`).
    static func unquoted(_ text: String) -> String {
        jsonText(
            String(
                String.UnicodeScalarView(
                    text.unicodeScalars.filter { $0 != "\"" && $0.value >= 0x20 && $0.value != 0x7f })))
    }

    /// A name as the reference hands it to nft's JSON: Go's encoding/json writes each byte that
    /// is not UTF-8 as U+FFFD, so the reference's chain names and comments hold that.
    static func jsonText(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: RawName.isRawByte) else { return text }
        return String(
            String.UnicodeScalarView(text.unicodeScalars.map { RawName.isRawByte($0) ? "\u{FFFD}" : $0 }))
    }

    /// At most `bytes` bytes of UTF-8, cut before the first character that does not fit
    /// whole. (The reference cuts the bytes as Go's `s[:n]` does, which can leave half a
    /// character; rules are matched by the comment's hash, which both cuts keep.)
    static func prefix(_ text: String, bytes: Int) -> String {
        guard text.utf8.count > bytes else { return text }
        var kept = String.UnicodeScalarView()
        var count = 0
        for scalar in text.unicodeScalars {
            let width = String(scalar).utf8.count
            guard count + width <= bytes else { break }
            kept.append(scalar)
            count += width
        }
        return String(kept)
    }
}
