import Addressing

/// What a DHCPv6 REPLY granted one IA_NA: the first address, the timers (made sane), the
/// server that holds the binding, and the DNS options.
public struct DHCPv6Lease: Sendable, Equatable {
    public var address: IPAddress
    /// The server's DUID (option 2), sent back in REQUEST, RENEW and RELEASE.
    public var serverIdentifier: [UInt8]
    public var preferredLifetime: UInt32
    public var validLifetime: UInt32
    public var renewalSeconds: UInt32
    public var rebindingSeconds: UInt32
    public var dnsServers: [IPAddress]
    public var searchDomains: [String]
    /// The server's domain list entries that were not valid names and were dropped.
    public var refusedValues: [String] = []

    public init(
        address: IPAddress, serverIdentifier: [UInt8], preferredLifetime: UInt32, validLifetime: UInt32,
        renewalSeconds: UInt32, rebindingSeconds: UInt32, dnsServers: [IPAddress] = [], searchDomains: [String] = []
    ) {
        self.address = address
        self.serverIdentifier = serverIdentifier
        self.preferredLifetime = preferredLifetime
        self.validLifetime = validLifetime
        self.renewalSeconds = renewalSeconds
        self.rebindingSeconds = rebindingSeconds
        self.dnsServers = dnsServers
        self.searchDomains = searchDomains
    }

    /// The shortest T1 taken: renewals at most every 10 s (REN_TIMEOUT), whatever T1 a server
    /// sends.
    public static let shortestRenewal: UInt32 = 10

    /// The lease in an ADVERTISE or REPLY for the IA `iaid`: nil when the message carries no
    /// usable address for it (status NoAddrsAvail, an empty IA, no server identifier). Timers
    /// are kept to 0 < T1 < T2 < valid lifetime with the valid lifetime at least
    /// `LeaseLimits.shortestLifetime`, the preferred at most the valid and T1 at least
    /// `shortestRenewal`; a T1/T2 of 0 or out of order is RFC 8415 21.4's advice, 0.5 and 0.8
    /// of the preferred lifetime (taken as at least a minute).
    public init?(reply message: DHCPv6Message, iaid: UInt32) {
        guard let serverIdentifier = message.option(DHCPv6OptionCode.serverIdentifier), !serverIdentifier.isEmpty else {
            return nil
        }
        let associations = message.options.filter { $0.code == DHCPv6OptionCode.identityAssociationNA }
            .compactMap { try? DHCPv6IdentityAssociation(decoding: $0.data) }
        guard let association = associations.first(where: { $0.iaid == iaid }),
            association.status == DHCPv6Status.success,
            // Only an address a host can hold (global or unique-local unicast); a server's
            // link-local, loopback, multicast or IPv4-mapped IAADDR is ignored (RFC 8415 18.2.10.1).
            let granted = association.addresses.first(where: {
                $0.validLifetime > 0 && IPAddressClassification.isLeasableV6(high: $0.address.high, low: $0.address.low)
            })
        else { return nil }
        self.address = granted.address
        self.serverIdentifier = serverIdentifier
        let valid = max(granted.validLifetime, LeaseLimits.shortestLifetime)
        let preferred = min(max(granted.preferredLifetime, 1), valid)
        validLifetime = valid
        preferredLifetime = preferred
        // The lifetime the default timers derive from: the preferred one, at least a minute.
        let reference = preferred == UInt32.max ? valid : min(max(preferred, LeaseLimits.shortestLifetime), valid)
        let proposed = association.t1 > 0 && association.t1 < valid ? association.t1 : UInt32(UInt64(reference) / 2)
        let renewal = max(proposed, Self.shortestRenewal)
        let rebinding =
            association.t2 > renewal && association.t2 < valid
            ? association.t2 : max(renewal + 1, UInt32(UInt64(reference) * 4 / 5))
        renewalSeconds = min(renewal, valid - 2)
        rebindingSeconds = min(max(rebinding, renewalSeconds + 1), valid - 1)
        dnsServers = message.dnsServers
        let list = message.domainList
        searchDomains = list.filter(DomainName.isValid)
        refusedValues = list.filter { !DomainName.isValid($0) }.map { "domain list entry \(DomainName.shown($0))" }
    }
}

/// The client's identity to DHCPv6 servers: one DUID and one IAID per attachment, the same
/// across daemon restarts (derived from the attachment, not stored), distinct for containers
/// that share a MAC address (ipvlan).
public struct DHCPv6ClientIdentity: Sendable, Equatable {
    /// DUID-UUID (RFC 6355, type 4): a name-based UUID of "<containerID>/<network>/<ifname>".
    public var duid: [UInt8]
    public var iaid: UInt32

    public init(duid: [UInt8], iaid: UInt32) {
        self.duid = duid
        self.iaid = iaid
    }

    /// The identity of an attachment: the UUID is the first 16 bytes of two FNV-1a 64-bit
    /// hashes of the name (with the version 4 layout's variant bits, RFC 4122), and the IAID
    /// their low 32 bits. Only uniqueness and stability matter: the server compares bytes.
    public init(containerID: String, network: String, ifName: String) {
        let name = Array("\(containerID)/\(network)/\(ifName)".utf8)
        let first = Self.fnv1a(name, seed: 0xcbf2_9ce4_8422_2325)
        let second = Self.fnv1a(name, seed: first)
        var uuid = (0..<8).map { UInt8(truncatingIfNeeded: first >> (56 - 8 * $0)) }
        uuid += (0..<8).map { UInt8(truncatingIfNeeded: second >> (56 - 8 * $0)) }
        uuid[6] = uuid[6] & 0x0F | 0x40
        uuid[8] = uuid[8] & 0x3F | 0x80
        duid = [0, 4] + uuid
        iaid = UInt32(truncatingIfNeeded: second)
    }

    static func fnv1a(_ bytes: [UInt8], seed: UInt64) -> UInt64 {
        bytes.reduce(seed) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}
