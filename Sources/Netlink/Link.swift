import Addressing
import CMnl
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// A network interface as RTM_NEWLINK describes it.
public struct Link: Sendable, Equatable {
    public var index: Int32
    public var name: String
    /// IFF_* flags (IFF_UP, IFF_PROMISC, ...).
    public var flags: UInt32
    public var mtu: UInt32
    public var address: MACAddress?
    /// IFLA_INFO_KIND: "macvlan", "veth", "bridge", ...; nil for a physical device or lo.
    public var kind: String?
    /// IFLA_MASTER: the bridge (or bond) this link is enslaved to.
    public var masterIndex: Int32?
    /// IFLA_LINK: the lower device of a macvlan/ipvlan/vlan, or a veth's peer. When
    /// `linkNamespaceID` is set, the index is in that other namespace.
    public var parentIndex: Int32?
    /// IFLA_LINK_NETNSID: the lower device or peer lives in another namespace.
    public var linkNamespaceID: Int32?
    /// IFLA_OPERSTATE (IF_OPER_UP = 6).
    public var operationalState: UInt8?
    public var promiscuity: UInt32?
    /// IFLA_TXQLEN: the transmit queue length.
    public var transmitQueueLength: UInt32?
    /// Kind-specific data from IFLA_INFO_DATA.
    public var macvlanMode: MacvlanMode?
    public var ipvlanMode: IpvlanMode?
    public var ipvlanFlags: IpvlanFlags?
    public var vlanID: UInt16?
    public var isUp: Bool { flags & UInt32(IFF_UP) != 0 }
    public var isPromiscuous: Bool { flags & UInt32(IFF_PROMISC) != 0 }
    public var isAllMulticast: Bool { flags & UInt32(IFF_ALLMULTI) != 0 }

    /// A link as a model of the kernel's (plugin hosts' fakes, tests) describes it.
    public init(
        index: Int32, name: String, flags: UInt32 = 0, mtu: UInt32 = 1500, address: MACAddress? = nil,
        kind: String? = nil, masterIndex: Int32? = nil, parentIndex: Int32? = nil
    ) {
        self.index = index
        self.name = name
        self.flags = flags
        self.mtu = mtu
        self.address = address
        self.kind = kind
        self.masterIndex = masterIndex
        self.parentIndex = parentIndex
    }

    /// Reads a link from an RTM_NEWLINK message; nil when the payload is too short for ifinfomsg.
    init?(message: NetlinkMessage) {
        guard let reply = FamilyPayload<ifinfomsg>(message.payload) else { return nil }
        index = reply.header.ifi_index
        flags = reply.header.ifi_flags
        let attributes = reply.attributes
        name = attributes.string(IFLA_IFNAME) ?? ""
        mtu = attributes.u32(IFLA_MTU) ?? 0
        address = attributes[IFLA_ADDRESS].flatMap { MACAddress(bytes: $0) }
        masterIndex = attributes.i32(IFLA_MASTER)
        parentIndex = attributes.i32(IFLA_LINK)
        linkNamespaceID = attributes.i32(IFLA_LINK_NETNSID)
        operationalState = attributes.u8(IFLA_OPERSTATE)
        promiscuity = attributes.u32(IFLA_PROMISCUITY)
        transmitQueueLength = attributes.u32(IFLA_TXQLEN)
        if let info = attributes.nested(IFLA_LINKINFO) {
            kind = info.string(IFLA_INFO_KIND)
            if let data = info.nested(IFLA_INFO_DATA) {
                switch kind {
                case "macvlan", "macvtap":
                    macvlanMode = data.u32(IFLA_MACVLAN_MODE).flatMap(MacvlanMode.init(rawValue:))
                case "ipvlan", "ipvtap":
                    ipvlanMode = data.u16(IFLA_IPVLAN_MODE).flatMap { IpvlanMode(rawValue: $0) }
                    ipvlanFlags = data.u16(IFLA_IPVLAN_FLAGS).map { IpvlanFlags(rawValue: $0) }
                case "vlan":
                    vlanID = data.u16(IFLA_VLAN_ID)
                default:
                    break
                }
            }
        }
    }
}

/// IFLA_MACVLAN_MODE values (linux/if_link.h).
public enum MacvlanMode: UInt32, Sendable, CaseIterable {
    case `private` = 1
    case vepa = 2
    case bridge = 4
    case passthru = 8
    case source = 16

    /// The name the CNI config uses ("bridge", "private", ...).
    public var name: String {
        switch self {
        case .private: "private"
        case .vepa: "vepa"
        case .bridge: "bridge"
        case .passthru: "passthru"
        case .source: "source"
        }
    }
}

/// IFLA_IPVLAN_MODE values.
public enum IpvlanMode: UInt16, Sendable, CaseIterable {
    case l2 = 0
    case l3 = 1
    case l3s = 2

    public var name: String {
        switch self {
        case .l2: "l2"
        case .l3: "l3"
        case .l3s: "l3s"
        }
    }
}

/// IFLA_IPVLAN_FLAGS: 0 is bridge (the default), IPVLAN_F_PRIVATE, IPVLAN_F_VEPA.
public struct IpvlanFlags: OptionSet, Sendable, Equatable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let `private` = IpvlanFlags(rawValue: 0x01)
    public static let vepa = IpvlanFlags(rawValue: 0x02)
}

/// What kind of link to create, with its IFLA_INFO_DATA.
public enum LinkKind: Sendable, Equatable {
    /// IFLA_MACVLAN_MODE, and IFLA_MACVLAN_BC_QUEUE_LEN when given.
    case macvlan(mode: MacvlanMode, broadcastQueueLength: UInt32? = nil)
    /// IFLA_IPVLAN_MODE and IFLA_IPVLAN_FLAGS.
    case ipvlan(mode: IpvlanMode, flags: IpvlanFlags = [])
    /// IFLA_VLAN_ID (802.1Q).
    case vlan(id: UInt16)
    /// VETH_INFO_PEER: the peer's name, and the namespace it is created in (IFLA_NET_NS_FD).
    case veth(peerName: String, peerNamespaceFD: FileDescriptor? = nil, peerAddress: MACAddress? = nil)
    case bridge
    /// The intermediate functional block device traffic can be redirected to (bandwidth).
    case ifb

    public var name: String {
        switch self {
        case .macvlan: "macvlan"
        case .ipvlan: "ipvlan"
        case .vlan: "vlan"
        case .veth: "veth"
        case .bridge: "bridge"
        case .ifb: "ifb"
        }
    }
}

/// Everything RTM_NEWLINK needs to create a link.
public struct LinkRequest: Sendable, Equatable {
    public var name: String
    public var kind: LinkKind
    /// IFLA_LINK: the lower device (master) for macvlan/ipvlan/vlan.
    public var parentIndex: Int32?
    public var mtu: UInt32?
    public var address: MACAddress?
    public var transmitQueueLength: UInt32?
    /// IFLA_NET_NS_FD: create the link directly in this namespace.
    public var namespaceFD: FileDescriptor?

    public init(
        name: String, kind: LinkKind, parentIndex: Int32? = nil, mtu: UInt32? = nil,
        address: MACAddress? = nil, transmitQueueLength: UInt32? = nil, namespaceFD: FileDescriptor? = nil
    ) {
        self.name = name
        self.kind = kind
        self.parentIndex = parentIndex
        self.mtu = mtu
        self.address = address
        self.transmitQueueLength = transmitQueueLength
        self.namespaceFD = namespaceFD
    }
}
