import CMnl

#if canImport(Glibc)
    import Glibc
#endif

/// A queueing discipline as RTM_NEWQDISC describes it; TBF's parameters when it is one.
public struct Qdisc: Sendable, Equatable {
    public var kind: String
    public var handle: UInt32
    public var parent: UInt32
    /// TBF: bytes per second (the 32-bit field), queue limit in bytes, bucket in scheduler ticks.
    public var rate: UInt32?
    public var limit: UInt32?
    public var buffer: UInt32?

    public init(
        kind: String, handle: UInt32, parent: UInt32, rate: UInt32? = nil, limit: UInt32? = nil, buffer: UInt32? = nil
    ) {
        self.kind = kind
        self.handle = handle
        self.parent = parent
        self.rate = rate
        self.limit = limit
        self.buffer = buffer
    }
}

/// Traffic control on a namespace's links (the bandwidth plugin's requests): a netlink session
/// that also sends tc messages. `RouteNetlink` is the kernel's; tests hand a model.
public protocol TrafficShaping: NetlinkSession {
    /// RTM_NEWQDISC of a root TBF (handle 1:): `rate` bytes per second, `limit` bytes queued,
    /// `buffer` scheduler ticks of burst. EEXIST: the link has a root qdisc other than the default.
    func addTokenBucket(index: Int32, rate: UInt64, limit: UInt32, buffer: UInt32) throws(NetlinkError)
    /// RTM_NEWQDISC of the ingress qdisc (ffff:). EEXIST: there is one already.
    func addIngressQdisc(index: Int32) throws(NetlinkError)
    /// RTM_NEWTFILTER: a u32 filter on the ingress qdisc matching every packet, with a mirred
    /// action redirecting it to the egress of link `targetIndex`.
    func addRedirectFilter(index: Int32, to targetIndex: Int32) throws(NetlinkError)
    /// RTM_DELQDISC of the root or ingress qdisc; none there (ENOENT, EINVAL) is fine.
    func deleteQdisc(index: Int32, ingress: Bool) throws(NetlinkError)
    /// RTM_GETQDISC dump of one link's qdiscs.
    func qdiscs(index: Int32) throws(NetlinkError) -> [Qdisc]
}

extension RouteNetlink: TrafficShaping {}

/// Traffic control over rtnetlink (tc messages), for the bandwidth plugin: no `tc` binary.
extension RouteNetlink {
    static let ingressHandle: UInt32 = 0xFFFF_0000

    static func tcHeader(index: Int32, handle: UInt32, parent: UInt32, info: UInt32 = 0) -> tcmsg {
        tcmsg(
            tcm_family: UInt8(AF_UNSPEC), tcm__pad1: 0, tcm__pad2: 0, tcm_ifindex: index, tcm_handle: handle,
            tcm_parent: parent, tcm_info: info)
    }

    /// RTM_NEWQDISC (NLM_F_CREATE|NLM_F_EXCL) of a TBF as the root qdisc (handle 1:) of the link:
    /// TCA_TBF_PARMS with the rate (bytes/s; TCA_TBF_RATE64 above 32 bits), limit and buffer.
    /// EEXIST when the link already has a root qdisc of its own.
    public func addTokenBucket(index: Int32, rate: UInt64, limit: UInt32, buffer: UInt32) throws(NetlinkError) {
        let request = MessageBuilder(type: Int(RTM_NEWQDISC), flags: Int32(NLM_F_CREATE | NLM_F_EXCL))
        request.putFamilyHeader(Self.tcHeader(index: index, handle: 0x1_0000, parent: cmnl_tc_h_root()))
        request.put(Int(TCA_KIND), string: "tbf")
        var options = [UInt8](repeating: 0, count: 128)
        let size = options.withUnsafeMutableBytes {
            cmnl_tbf_qopt(UInt32(truncatingIfNeeded: min(rate, UInt64(UInt32.max))), limit, buffer, $0.baseAddress)
        }
        request.nest(Int(TCA_OPTIONS)) {
            request.put(Int(TCA_TBF_PARMS), bytes: Array(options[0..<size]))
            if rate >= 1 << 32 {
                request.put(Int(TCA_TBF_RATE64), bytes: withUnsafeBytes(of: rate) { Array($0) })
            }
        }
        try perform(request, operation: "add a tbf qdisc to link #\(index)")
    }

    /// RTM_NEWQDISC of the ingress qdisc (ffff:, parent TC_H_INGRESS).
    public func addIngressQdisc(index: Int32) throws(NetlinkError) {
        let request = MessageBuilder(type: Int(RTM_NEWQDISC), flags: Int32(NLM_F_CREATE | NLM_F_EXCL))
        request.putFamilyHeader(Self.tcHeader(index: index, handle: Self.ingressHandle, parent: cmnl_tc_h_ingress()))
        request.put(Int(TCA_KIND), string: "ingress")
        try perform(request, operation: "add an ingress qdisc to link #\(index)")
    }

    /// RTM_NEWTFILTER on the link's ingress qdisc: u32, priority 1, every protocol
    /// (ETH_P_ALL), matching every packet, classid 1:1, with a mirred action redirecting it to
    /// the egress of `targetIndex` (the ifb).
    public func addRedirectFilter(index: Int32, to targetIndex: Int32) throws(NetlinkError) {
        let request = MessageBuilder(type: Int(RTM_NEWTFILTER), flags: Int32(NLM_F_CREATE | NLM_F_EXCL))
        let allProtocols = UInt32(UInt16(ETH_P_ALL).bigEndian)
        request.putFamilyHeader(
            Self.tcHeader(index: index, handle: 0, parent: Self.ingressHandle, info: 1 << 16 | allProtocols))
        request.put(Int(TCA_KIND), string: "u32")
        var selector = [UInt8](repeating: 0, count: 128)
        let selectorSize = selector.withUnsafeMutableBytes { cmnl_u32_match_all($0.baseAddress) }
        var mirred = [UInt8](repeating: 0, count: 128)
        let mirredSize = mirred.withUnsafeMutableBytes {
            cmnl_mirred_redirect(UInt32(bitPattern: targetIndex), $0.baseAddress)
        }
        request.nest(Int(TCA_OPTIONS)) {
            request.put(Int(TCA_U32_CLASSID), u32: 0x1_0001)
            request.put(Int(TCA_U32_SEL), bytes: Array(selector[0..<selectorSize]))
            request.nest(Int(TCA_U32_ACT)) {
                request.nest(1) {
                    request.put(Int(TCA_ACT_KIND), string: "mirred")
                    request.nest(Int(TCA_ACT_OPTIONS)) {
                        request.put(Int(TCA_MIRRED_PARMS), bytes: Array(mirred[0..<mirredSize]))
                    }
                }
            }
        }
        try perform(request, operation: "add a redirect filter on link #\(index)")
    }

    /// RTM_DELQDISC of the root or the ingress qdisc; ENOENT/EINVAL (none there) is success.
    public func deleteQdisc(index: Int32, ingress: Bool) throws(NetlinkError) {
        let request = MessageBuilder(type: Int(RTM_DELQDISC), flags: 0)
        request.putFamilyHeader(
            ingress
                ? Self.tcHeader(index: index, handle: Self.ingressHandle, parent: cmnl_tc_h_ingress())
                : Self.tcHeader(index: index, handle: 0, parent: cmnl_tc_h_root()))
        do {
            try perform(request, operation: "delete the \(ingress ? "ingress" : "root") qdisc of link #\(index)")
        } catch {
            // Not `catch where`: Swift 6.0.3's SIL verifier crashes on it (see SystemHost).
            guard error.errno == ENOENT || error.errno == EINVAL else { throw error }
        }
    }

    /// RTM_GETQDISC dump of the link's qdiscs (kind, handles, TBF parameters).
    public func qdiscs(index: Int32) throws(NetlinkError) -> [Qdisc] {
        let request = MessageBuilder(type: Int(RTM_GETQDISC), flags: 0)
        request.putFamilyHeader(Self.tcHeader(index: index, handle: 0, parent: 0))
        return try dump(request, operation: "list the qdiscs of link #\(index)").compactMap { message in
            guard let reply = FamilyPayload<tcmsg>(message.payload), reply.header.tcm_ifindex == index else {
                return nil
            }
            var qdisc = Qdisc(
                kind: reply.attributes.string(Int(TCA_KIND)) ?? "", handle: reply.header.tcm_handle,
                parent: reply.header.tcm_parent)
            if qdisc.kind == "tbf",
                let parameters = reply.attributes.nested(Int(TCA_OPTIONS))?[
                    Int(TCA_TBF_PARMS)]
            {
                var rate: UInt32 = 0
                var limit: UInt32 = 0
                var buffer: UInt32 = 0
                let read = parameters.withUnsafeBytes {
                    cmnl_tbf_qopt_read($0.baseAddress, $0.count, &rate, &limit, &buffer)
                }
                if read == 0 { (qdisc.rate, qdisc.limit, qdisc.buffer) = (rate, limit, buffer) }
            }
            return qdisc
        }
    }
}
