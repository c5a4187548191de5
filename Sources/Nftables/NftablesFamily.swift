import Addressing
import CNftnl

/// The nf_tables families the suite writes to (nfgenmsg.nfgen_family, NFPROTO_*), named as
/// `nft` names them.
public enum NftablesFamily: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case inet = 1
    case ip = 2
    case bridge = 7
    case ip6 = 10

    /// `ip` or `ip6`: the table family of an address family.
    public init(_ family: IPAddress.Family) { self = family == .v4 ? .ip : .ip6 }

    public var description: String {
        switch self {
        case .inet: "inet"
        case .ip: "ip"
        case .bridge: "bridge"
        case .ip6: "ip6"
        }
    }
}
