import CNftnl

/// A table as `add table <family> <name> { comment "..." ; }` makes it.
public struct NftablesTable: Hashable, Sendable {
    public var family: NftablesFamily
    public var name: String
    public var comment: String?

    public init(_ family: NftablesFamily, _ name: String, comment: String? = nil) {
        self.family = family
        self.name = name
        self.comment = comment
    }
}

/// A chain; a base chain has a `Hook` (`{ type nat hook postrouting priority 100 ; }`).
public struct NftablesChain: Hashable, Sendable {
    /// Where a base chain is hooked: the hook number is the same for ip, ip6, inet and bridge
    /// (NF_INET_* / NF_BR_*).
    public enum HookPoint: UInt32, Sendable {
        case prerouting = 0
        case input = 1
        case forward = 2
        case output = 3
        case postrouting = 4
    }

    public struct Hook: Hashable, Sendable {
        /// `filter`, `nat` or `route`.
        public var type: String
        public var point: HookPoint
        public var priority: Int32

        public init(type: String, _ point: HookPoint, priority: Int32) {
            self.type = type
            self.point = point
            self.priority = priority
        }
    }

    public var family: NftablesFamily
    public var table: String
    public var name: String
    public var hook: Hook?
    public var comment: String?

    public init(_ family: NftablesFamily, _ table: String, _ name: String, hook: Hook? = nil, comment: String? = nil) {
        self.family = family
        self.table = table
        self.name = name
        self.hook = hook
        self.comment = comment
    }
}

/// A rule: its expressions and comment (user data, as `nft` writes `comment "..."`); `handle`
/// is the kernel's, set on rules read from a dump.
public struct NftablesRule: Hashable, Sendable {
    public var family: NftablesFamily
    public var table: String
    public var chain: String
    public var expressions: [NftablesExpression]
    public var comment: String?
    public var handle: UInt64?

    public init(
        _ family: NftablesFamily, _ table: String, _ chain: String, _ expressions: [NftablesExpression],
        comment: String? = nil, handle: UInt64? = nil
    ) {
        self.family = family
        self.table = table
        self.chain = chain
        self.expressions = expressions
        self.comment = comment
        self.handle = handle
    }

    /// The chains this rule jumps or goes to.
    public var targets: [String] {
        expressions.compactMap { expression in
            if case .verdict(let verdict) = expression { return verdict.chain }
            return nil
        }
    }

    /// The same rule in the kernel's eyes, whatever its handle: the chain, the expressions
    /// and the comment.
    public func matches(_ other: NftablesRule) -> Bool {
        chain == other.chain && expressions == other.expressions && comment == other.comment
    }

    /// The same rules in the same order (`matches` pairwise).
    public static func same(_ some: [NftablesRule], _ others: [NftablesRule]) -> Bool {
        some.elementsEqual(others) { $0.matches($1) }
    }
}

/// The longest comment `nft` accepts (NFTNL_UDATA_COMMENT_MAXLEN), in bytes.
public let nftablesCommentLimit = 128

/// User data holding one comment TLV (NFTNL_UDATA_{TABLE,CHAIN,RULE}_COMMENT are all type 0),
/// NUL-terminated as nft writes it.
func commentUserData(_ comment: String) -> [UInt8] {
    guard let buffer = nftnl_udata_buf_alloc(256) else { return [] }
    defer { nftnl_udata_buf_free(buffer) }
    guard nftnl_udata_put_strz(buffer, 0, comment) else { return [] }
    guard let data = nftnl_udata_buf_data(buffer) else { return [] }
    return Array(UnsafeRawBufferPointer(start: data, count: Int(nftnl_udata_buf_len(buffer))))
}

/// The comment of user data (its type-0 TLV, up to the NUL), nil when there is none.
func userDataComment(_ data: [UInt8]) -> String? {
    var index = 0
    while index + 2 <= data.count {
        let type = data[index]
        let length = Int(data[index + 1])
        let end = index + 2 + length
        guard end <= data.count else { return nil }
        if type == 0 {
            let text = data[(index + 2)..<end].prefix { $0 != 0 }
            return String(decoding: text, as: UTF8.self)
        }
        index = end
    }
    return nil
}
