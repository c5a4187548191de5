import Addressing
import CMnl

#if canImport(Glibc)
    import Glibc
#endif

/// The kernel's connection tracking table through ctnetlink (NETLINK_NETFILTER,
/// NFNL_SUBSYS_CTNETLINK), in the calling thread's namespace: no `conntrack` binary.
public final class ConntrackTable {
    private let session: RouteNetlink

    /// Opens a NETLINK_NETFILTER socket here.
    public init() throws(NetlinkError) {
        session = RouteNetlink(transport: try MnlSocket(family: NETLINK_NETFILTER))
    }

    /// Tests hand a recording transport.
    public init(transport: NetlinkTransport) { session = RouteNetlink(transport: transport) }

    /// One tracked connection: its original tuple as the kernel sent it (to delete it by),
    /// the protocol number and the original destination port.
    struct Entry {
        var originalTuple: [UInt8]
        var zone: UInt16?
        var transport: UInt8
        var destinationPort: UInt16
    }

    static func messageType(_ message: Int32) -> Int { Int(NFNL_SUBSYS_CTNETLINK) << 8 | Int(message) }

    static func header(_ family: IPAddress.Family) -> nfgenmsg {
        nfgenmsg(nfgen_family: UInt8(family == .v4 ? AF_INET : AF_INET6), version: UInt8(NFNETLINK_V0), res_id: 0)
    }

    /// Deletes the entries of `family` whose original direction is `transport` (an IPPROTO_*
    /// number) to one of `destinationPorts`: a dump (IPCTNL_MSG_CT_GET with NLM_F_DUMP), then
    /// one IPCTNL_MSG_CT_DELETE per match, by its original tuple (and zone). An entry gone in
    /// between (ENOENT) is not an error. Returns how many were deleted.
    @discardableResult
    public func deleteEntries(family: IPAddress.Family, transport: UInt8, destinationPorts: Set<UInt16>)
        throws(NetlinkError) -> Int
    {
        guard !destinationPorts.isEmpty else { return 0 }
        let request = MessageBuilder(type: Self.messageType(Int32(IPCTNL_MSG_CT_GET.rawValue)), flags: 0)
        request.putFamilyHeader(Self.header(family))
        let replies = try session.dump(request, operation: "dump the conntrack table")
        var deleted = 0
        for reply in replies {
            guard let entry = Self.entry(reply.payload), entry.transport == transport,
                destinationPorts.contains(entry.destinationPort)
            else { continue }
            let deletion = MessageBuilder(type: Self.messageType(Int32(IPCTNL_MSG_CT_DELETE.rawValue)), flags: 0)
            deletion.putFamilyHeader(Self.header(family))
            deletion.put(Int(CTA_TUPLE_ORIG.rawValue) | Int(NLA_F_NESTED), bytes: entry.originalTuple)
            if let zone = entry.zone { deletion.put(Int(CTA_ZONE.rawValue), u16: zone.bigEndian) }
            do {
                try session.perform(deletion, operation: "delete a conntrack entry")
                deleted += 1
            } catch {
                // Not `catch where`: Swift 6.0.3's SIL verifier crashes on it (see SystemHost).
                guard error.errno == ENOENT else { throw error }
            }
        }
        return deleted
    }

    /// Reads a conntrack message: nfgenmsg, then CTA_TUPLE_ORIG { CTA_TUPLE_PROTO {
    /// CTA_PROTO_NUM, CTA_PROTO_DST_PORT (network order) } } and CTA_ZONE. nil when any part
    /// is missing or short.
    static func entry(_ payload: [UInt8]) -> Entry? {
        let attributes = NetlinkAttributes(payload, from: cmnl_align(cmnl_sizeof_nfgenmsg()))
        guard let tuple = attributes[Int(CTA_TUPLE_ORIG.rawValue)],
            let proto = NetlinkAttributes(tuple).nested(Int(CTA_TUPLE_PROTO.rawValue)),
            let number = proto.u8(Int(CTA_PROTO_NUM.rawValue)),
            let port = proto.u16(Int(CTA_PROTO_DST_PORT.rawValue))
        else { return nil }
        let zone = attributes.u16(Int(CTA_ZONE.rawValue)).map { UInt16(bigEndian: $0) }
        return Entry(originalTuple: tuple, zone: zone, transport: number, destinationPort: UInt16(bigEndian: port))
    }
}
