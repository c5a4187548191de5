import CNftnl

/// A register of the nf_tables VM, as `nft` allocates them: `verdict` (0) for verdicts, then
/// the 16-byte registers 1-4 (NFT_REG_1...).
public struct NftablesRegister: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let verdict = NftablesRegister(rawValue: UInt32(NFT_REG_VERDICT.rawValue))
    public static let one = NftablesRegister(rawValue: UInt32(NFT_REG_1.rawValue))
    public static let two = NftablesRegister(rawValue: UInt32(NFT_REG_2.rawValue))
}

/// What a rule does at its end, or on the way: the verdicts of `immediate reg 0`.
public enum NftablesVerdict: Hashable, Sendable {
    case accept
    case drop
    case `return`
    case jump(String)
    case goto(String)

    /// The verdict code (NF_ACCEPT, NF_DROP, NFT_RETURN, NFT_JUMP, NFT_GOTO).
    var code: Int32 {
        switch self {
        case .accept: Int32(NF_ACCEPT)
        case .drop: Int32(NF_DROP)
        case .return: NFT_RETURN.rawValue
        case .jump: NFT_JUMP.rawValue
        case .goto: NFT_GOTO.rawValue
        }
    }

    var chain: String? {
        switch self {
        case .jump(let chain), .goto(let chain): chain
        default: nil
        }
    }

    init?(code: Int32, chain: String?) {
        switch code {
        case Int32(NF_ACCEPT): self = .accept
        case Int32(NF_DROP): self = .drop
        case NFT_RETURN.rawValue: self = .return
        case NFT_JUMP.rawValue: self = .jump(chain ?? "")
        case NFT_GOTO.rawValue: self = .goto(chain ?? "")
        default: return nil
        }
    }
}

/// One expression of a rule, as the kernel holds it (what `nft --debug=netlink` prints): the
/// instructions `nft` compiles its statements into. `NftablesMatch` writes them the way nft
/// does, so `nft list ruleset` reads our rules back as the same text.
public enum NftablesExpression: Hashable, Sendable {
    /// Where a payload load starts (NFT_PAYLOAD_*_HEADER).
    public enum PayloadBase: UInt32, Sendable {
        case link = 0
        case network = 1
        case transport = 2
    }

    /// `meta load <key> => reg` (NFT_META_IIFNAME, NFT_META_NFPROTO, NFT_META_L4PROTO...).
    case meta(key: UInt32, into: NftablesRegister)
    /// `payload load <length>b @ <base> header + <offset> => reg`.
    case payload(base: PayloadBase, offset: UInt32, length: UInt32, into: NftablesRegister)
    /// `bitwise reg = (reg & mask) ^ xor`.
    case bitwise(register: NftablesRegister, mask: [UInt8], xor: [UInt8])
    /// `cmp eq|neq reg <data>`.
    case compare(equal: Bool, register: NftablesRegister, data: [UInt8])
    /// `immediate reg 0 <verdict>`.
    case verdict(NftablesVerdict)
    /// `immediate reg N <data>`.
    case immediate(NftablesRegister, data: [UInt8])
    /// `ct load state => reg` (the connection's state bits, NFT_CT_STATE).
    case connectionState(into: NftablesRegister)
    /// `fib daddr type => reg` (the route type of the destination address).
    case fibDestinationType(into: NftablesRegister)
    /// `masq`.
    case masquerade
    /// `nat dnat <family> addr_min reg A proto_min reg P`, with the port given.
    case destinationNAT(family: NftablesFamily, address: NftablesRegister, port: NftablesRegister)
    /// An expression this module does not write (read from a dump): its name only.
    case other(String)

    /// libnftnl's name of the expression type.
    var typeName: String {
        switch self {
        case .meta: "meta"
        case .payload: "payload"
        case .bitwise: "bitwise"
        case .compare: "cmp"
        case .verdict, .immediate: "immediate"
        case .connectionState: "ct"
        case .fibDestinationType: "fib"
        case .masquerade: "masq"
        case .destinationNAT: "nat"
        case .other(let name): name
        }
    }
}

// MARK: libnftnl objects

extension NftablesExpression {
    /// A new `nftnl_expr` holding this expression; the caller adds it to a rule (which then
    /// owns it). nil for `.other`, which is never written.
    func makeObject() -> OpaquePointer? {
        if case .other = self { return nil }
        guard let expression = nftnl_expr_alloc(typeName) else { return nil }
        func set(_ attribute: Int, _ value: UInt32) { nftnl_expr_set_u32(expression, UInt16(attribute), value) }
        func set(_ attribute: Int, _ data: [UInt8]) {
            _ = data.withUnsafeBytes {
                nftnl_expr_set(expression, UInt16(attribute), $0.baseAddress, UInt32($0.count))
            }
        }
        switch self {
        case .meta(let key, let register):
            set(NFTNL_EXPR_META_KEY, key)
            set(NFTNL_EXPR_META_DREG, register.rawValue)
        case .payload(let base, let offset, let length, let register):
            set(NFTNL_EXPR_PAYLOAD_DREG, register.rawValue)
            set(NFTNL_EXPR_PAYLOAD_BASE, base.rawValue)
            set(NFTNL_EXPR_PAYLOAD_OFFSET, offset)
            set(NFTNL_EXPR_PAYLOAD_LEN, length)
        case .bitwise(let register, let mask, let xor):
            set(NFTNL_EXPR_BITWISE_SREG, register.rawValue)
            set(NFTNL_EXPR_BITWISE_DREG, register.rawValue)
            set(NFTNL_EXPR_BITWISE_LEN, UInt32(mask.count))
            set(NFTNL_EXPR_BITWISE_MASK, mask)
            set(NFTNL_EXPR_BITWISE_XOR, xor)
        case .compare(let equal, let register, let data):
            set(NFTNL_EXPR_CMP_SREG, register.rawValue)
            set(NFTNL_EXPR_CMP_OP, equal ? UInt32(NFT_CMP_EQ.rawValue) : UInt32(NFT_CMP_NEQ.rawValue))
            set(NFTNL_EXPR_CMP_DATA, data)
        case .verdict(let verdict):
            set(NFTNL_EXPR_IMM_DREG, NftablesRegister.verdict.rawValue)
            set(NFTNL_EXPR_IMM_VERDICT, UInt32(bitPattern: verdict.code))
            if let chain = verdict.chain { nftnl_expr_set_str(expression, UInt16(NFTNL_EXPR_IMM_CHAIN), chain) }
        case .immediate(let register, let data):
            set(NFTNL_EXPR_IMM_DREG, register.rawValue)
            set(NFTNL_EXPR_IMM_DATA, data)
        case .connectionState(let register):
            set(NFTNL_EXPR_CT_KEY, UInt32(NFT_CT_STATE.rawValue))
            set(NFTNL_EXPR_CT_DREG, register.rawValue)
        case .fibDestinationType(let register):
            set(NFTNL_EXPR_FIB_DREG, register.rawValue)
            set(NFTNL_EXPR_FIB_RESULT, UInt32(NFT_FIB_RESULT_ADDRTYPE.rawValue))
            set(NFTNL_EXPR_FIB_FLAGS, UInt32(NFTA_FIB_F_DADDR.rawValue))
        case .masquerade:
            break
        case .destinationNAT(let family, let address, let port):
            set(NFTNL_EXPR_NAT_TYPE, UInt32(NFT_NAT_DNAT.rawValue))
            set(NFTNL_EXPR_NAT_FAMILY, UInt32(family.rawValue))
            set(NFTNL_EXPR_NAT_REG_ADDR_MIN, address.rawValue)
            set(NFTNL_EXPR_NAT_REG_PROTO_MIN, port.rawValue)
            set(NFTNL_EXPR_NAT_FLAGS, cnftnl_nat_range_proto_specified())
        case .other:
            break
        }
        return expression
    }

    /// Reads an `nftnl_expr` of a dumped rule back; expressions this module never writes are
    /// `.other(name)`.
    init(object expression: OpaquePointer) {
        let name = nftnl_expr_get_str(expression, UInt16(NFTNL_EXPR_NAME)).map { String(cString: $0) } ?? ""
        func u32(_ attribute: Int) -> UInt32 { nftnl_expr_get_u32(expression, UInt16(attribute)) }
        func has(_ attribute: Int) -> Bool { nftnl_expr_is_set(expression, UInt16(attribute)) }
        func data(_ attribute: Int) -> [UInt8] {
            var length: UInt32 = 0
            guard let bytes = nftnl_expr_get(expression, UInt16(attribute), &length) else { return [] }
            return Array(UnsafeRawBufferPointer(start: bytes, count: Int(length)))
        }
        func register(_ attribute: Int) -> NftablesRegister { NftablesRegister(rawValue: u32(attribute)) }
        switch name {
        case "meta" where has(NFTNL_EXPR_META_DREG):
            self = .meta(key: u32(NFTNL_EXPR_META_KEY), into: register(NFTNL_EXPR_META_DREG))
        case "payload" where has(NFTNL_EXPR_PAYLOAD_DREG):
            guard let base = PayloadBase(rawValue: u32(NFTNL_EXPR_PAYLOAD_BASE)) else {
                self = .other(name)
                return
            }
            self = .payload(
                base: base, offset: u32(NFTNL_EXPR_PAYLOAD_OFFSET), length: u32(NFTNL_EXPR_PAYLOAD_LEN),
                into: register(NFTNL_EXPR_PAYLOAD_DREG))
        case "bitwise" where has(NFTNL_EXPR_BITWISE_MASK):
            self = .bitwise(
                register: register(NFTNL_EXPR_BITWISE_SREG), mask: data(NFTNL_EXPR_BITWISE_MASK),
                xor: data(NFTNL_EXPR_BITWISE_XOR))
        case "cmp":
            let op = u32(NFTNL_EXPR_CMP_OP)
            guard op == UInt32(NFT_CMP_EQ.rawValue) || op == UInt32(NFT_CMP_NEQ.rawValue) else {
                self = .other(name)
                return
            }
            self = .compare(
                equal: op == UInt32(NFT_CMP_EQ.rawValue), register: register(NFTNL_EXPR_CMP_SREG),
                data: data(NFTNL_EXPR_CMP_DATA))
        case "immediate" where has(NFTNL_EXPR_IMM_VERDICT):
            let chain = nftnl_expr_get_str(expression, UInt16(NFTNL_EXPR_IMM_CHAIN)).map { String(cString: $0) }
            if let verdict = NftablesVerdict(code: Int32(bitPattern: u32(NFTNL_EXPR_IMM_VERDICT)), chain: chain) {
                self = .verdict(verdict)
            } else {
                self = .other(name)
            }
        case "immediate":
            self = .immediate(register(NFTNL_EXPR_IMM_DREG), data: data(NFTNL_EXPR_IMM_DATA))
        case "ct" where has(NFTNL_EXPR_CT_DREG) && u32(NFTNL_EXPR_CT_KEY) == UInt32(NFT_CT_STATE.rawValue):
            self = .connectionState(into: register(NFTNL_EXPR_CT_DREG))
        case "fib"
        where u32(NFTNL_EXPR_FIB_RESULT) == UInt32(NFT_FIB_RESULT_ADDRTYPE.rawValue)
            && u32(NFTNL_EXPR_FIB_FLAGS) == UInt32(NFTA_FIB_F_DADDR.rawValue):
            self = .fibDestinationType(into: register(NFTNL_EXPR_FIB_DREG))
        case "masq" where !has(NFTNL_EXPR_MASQ_FLAGS) || u32(NFTNL_EXPR_MASQ_FLAGS) == 0:
            self = .masquerade
        case "nat"
        where u32(NFTNL_EXPR_NAT_TYPE) == UInt32(NFT_NAT_DNAT.rawValue)
            && has(NFTNL_EXPR_NAT_REG_ADDR_MIN) && has(NFTNL_EXPR_NAT_REG_PROTO_MIN):
            guard let family = NftablesFamily(rawValue: UInt8(truncatingIfNeeded: u32(NFTNL_EXPR_NAT_FAMILY))) else {
                self = .other(name)
                return
            }
            self = .destinationNAT(
                family: family, address: register(NFTNL_EXPR_NAT_REG_ADDR_MIN),
                port: register(NFTNL_EXPR_NAT_REG_PROTO_MIN))
        default:
            self = .other(name)
        }
    }
}
