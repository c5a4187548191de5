import Addressing
import CNftnl

/// The statements of one rule, compiled into kernel expressions exactly as `nft` 1.0 compiles
/// them (see `nft --debug=netlink`), so that `nft list ruleset` prints our rules with the same
/// text as the reference's:
///
/// - in an `inet` table the first IPv4/IPv6 match of a rule is preceded by `meta nfproto`
///   (once per rule, as nft's dependency tracking does);
/// - an address prefix loads only its whole bytes when it ends on a byte (`ip daddr
///   10.1.2.0/24`: 3 bytes), else the whole address through a `bitwise` mask;
/// - an interface name is compared as 16 bytes (IFNAMSIZ), zero-padded;
/// - a transport port is preceded by `meta l4proto` (once per rule).
///
/// Only these shapes are written; `bridge` tables get no network-header match (nft would
/// depend on `ether type` there).
public struct NftablesRuleBody: Sendable {
    /// `ip saddr` / `ip6 daddr`...: which address of the network header.
    public enum AddressField: Sendable {
        case source
        case destination

        func offset(_ family: IPAddress.Family) -> UInt32 {
            switch (family, self) {
            case (.v4, .source): 12
            case (.v4, .destination): 16
            case (.v6, .source): 8
            case (.v6, .destination): 24
            }
        }
    }

    /// The transport protocols of `tcp dport` / `udp dport`.
    public enum Transport: UInt8, Sendable {
        case tcp = 6
        case udp = 17
        case sctp = 132
    }

    public let table: NftablesFamily
    public private(set) var expressions: [NftablesExpression] = []
    private var checkedNetworkProtocol: IPAddress.Family?
    private var checkedTransport: Transport?

    public init(in table: NftablesFamily) { self.table = table }

    /// `meta nfproto ipv4|ipv6` (one byte): the dependency of a network-header match in an
    /// `inet` table.
    private mutating func requireNetworkProtocol(_ family: IPAddress.Family) {
        guard table == .inet, checkedNetworkProtocol != family else { return }
        checkedNetworkProtocol = family
        expressions.append(.meta(key: UInt32(NFT_META_NFPROTO.rawValue), into: .one))
        expressions.append(
            .compare(equal: true, register: .one, data: [UInt8(family == .v4 ? NFPROTO_IPV4 : NFPROTO_IPV6)]))
    }

    /// `ip saddr == A`, `ip6 daddr != N/L`...: a nil or full `prefixLength` compares the whole
    /// address.
    public mutating func address(
        _ field: AddressField, equal: Bool = true, _ address: IPAddress, prefixLength: Int? = nil
    ) {
        requireNetworkProtocol(address.family)
        let bytes = address.bytes
        let fullLength = bytes.count * 8
        let length = min(max(prefixLength ?? fullLength, 0), fullLength)
        let offset = field.offset(address.family)
        if length % 8 == 0 && length > 0 {
            let count = length / 8
            expressions.append(.payload(base: .network, offset: offset, length: UInt32(count), into: .one))
            expressions.append(.compare(equal: equal, register: .one, data: Array(bytes[0..<count])))
        } else {
            let mask = (0..<bytes.count).map { index -> UInt8 in
                let bits = min(max(length - index * 8, 0), 8)
                return bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            }
            expressions.append(.payload(base: .network, offset: offset, length: UInt32(bytes.count), into: .one))
            expressions.append(.bitwise(register: .one, mask: mask, xor: [UInt8](repeating: 0, count: bytes.count)))
            expressions.append(.compare(equal: equal, register: .one, data: zip(bytes, mask).map { $0 & $1 }))
        }
    }

    /// `ip daddr N/L` for a prefix (its network address).
    public mutating func address(_ field: AddressField, equal: Bool = true, _ prefix: IPPrefix) {
        address(field, equal: equal, prefix.network, prefixLength: prefix.prefixLength)
    }

    /// `iifname "name"` / `oifname "name"` (NFT_META_IIFNAME / OIFNAME, 16 bytes).
    public mutating func interfaceName(input: Bool, equal: Bool = true, _ name: String) {
        var data = Array(name.utf8.prefix(16))
        data += [UInt8](repeating: 0, count: 16 - data.count)
        let key = input ? NFT_META_IIFNAME : NFT_META_OIFNAME
        expressions.append(.meta(key: UInt32(key.rawValue), into: .one))
        expressions.append(.compare(equal: equal, register: .one, data: data))
    }

    /// `ether saddr M` (6 bytes at link header + 6).
    public mutating func etherSource(_ mac: MACAddress) {
        expressions.append(.payload(base: .link, offset: 6, length: 6, into: .one))
        expressions.append(.compare(equal: true, register: .one, data: mac.bytes))
    }

    /// `tcp dport P` / `udp dport P`: `meta l4proto` (once), then 2 bytes at transport header + 2.
    public mutating func destinationPort(_ transport: Transport, equal: Bool = true, _ port: UInt16) {
        if checkedTransport != transport {
            checkedTransport = transport
            expressions.append(.meta(key: UInt32(NFT_META_L4PROTO.rawValue), into: .one))
            expressions.append(.compare(equal: true, register: .one, data: [transport.rawValue]))
        }
        expressions.append(.payload(base: .transport, offset: 2, length: 2, into: .one))
        expressions.append(.compare(equal: equal, register: .one, data: Self.bigEndian(port)))
    }

    /// `ct state established,related`: the state bits (NF_CT_STATE_BIT: established 2,
    /// related 4) masked, compared not-equal to zero, as nft compiles a set of states.
    public mutating func connectionEstablishedOrRelated() {
        expressions.append(.connectionState(into: .one))
        expressions.append(.bitwise(register: .one, mask: [6, 0, 0, 0], xor: [0, 0, 0, 0]))
        expressions.append(.compare(equal: false, register: .one, data: [0, 0, 0, 0]))
    }

    /// `fib daddr type local` (RTN_LOCAL, a 32-bit value in host order).
    public mutating func destinationIsLocal() {
        expressions.append(.fibDestinationType(into: .one))
        expressions.append(
            .compare(equal: true, register: .one, data: withUnsafeBytes(of: UInt32(RTN_LOCAL)) { Array($0) }))
    }

    /// `dnat to A:P` (`dnat to [A]:P` for IPv6): the address into register 1, the port into
    /// register 2, then the NAT expression.
    public mutating func destinationNAT(to address: IPAddress, port: UInt16) {
        expressions.append(.immediate(.one, data: address.bytes))
        expressions.append(.immediate(.two, data: Self.bigEndian(port)))
        expressions.append(.destinationNAT(family: NftablesFamily(address.family), address: .one, port: .two))
    }

    public mutating func masquerade() { expressions.append(.masquerade) }

    public mutating func verdict(_ verdict: NftablesVerdict) { expressions.append(.verdict(verdict)) }

    static func bigEndian(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
}
