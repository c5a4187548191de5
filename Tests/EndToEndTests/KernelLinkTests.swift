import Namespaces
import Netlink
import POSIX
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Link kinds the host kernel lacks (ipvlan, 802.1Q vlan), created and deleted through our own
/// netlink layer. These run inside the VM runner (see `VMSuiteTests`); on the host they are
/// not run here, and `hostKernelLacksIpvlanAndVlan` checks the error we give instead.
@Suite(.enabled(if: Testbed.insideVM, "runs inside integration/vm-run.sh; started by VMSuiteTests"))
struct KernelLinkTests {
    /// A namespace with a veth pair to hang sub-interfaces on, and a netlink socket in it.
    func setUp(_ bed: Testbed) throws -> (RouteNetlink, Link) {
        let ns = try bed.namespace("k")
        try bed.ip(ns, "link", "add", "low0", "type", "veth", "peer", "name", "low0p")
        let netlink = try RouteNetlink(in: try NetworkNamespace(path: bed.path(ns)))
        let lower = try #require(try netlink.link(named: "low0"))
        return (netlink, lower)
    }

    @Test(arguments: IpvlanMode.allCases)
    func createsAndDeletesIpvlan(_ mode: IpvlanMode) throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let (netlink, lower) = try setUp(bed)
        for flags in [IpvlanFlags(), .private, .vepa] {
            try netlink.createLink(
                LinkRequest(name: "iv0", kind: .ipvlan(mode: mode, flags: flags), parentIndex: lower.index))
            let link = try #require(try netlink.link(named: "iv0"))
            #expect(link.kind == "ipvlan")
            #expect(link.ipvlanMode == mode)
            #expect(link.ipvlanFlags == flags)
            #expect(link.parentIndex == lower.index)
            try netlink.deleteLink(index: link.index)
            #expect(try netlink.link(named: "iv0") == nil)
        }
    }

    @Test func createsAndDeletesVlan() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let (netlink, lower) = try setUp(bed)
        try netlink.createLink(LinkRequest(name: "low0.42", kind: .vlan(id: 42), parentIndex: lower.index, mtu: 1400))
        let link = try #require(try netlink.link(named: "low0.42"))
        #expect(link.kind == "vlan" && link.vlanID == 42 && link.mtu == 1400 && link.parentIndex == lower.index)
        // And as iproute2 sees it.
        let shown = try bed.ipJSON(bed.namespaces[0], "link", "show", "low0.42").arrayValue?.first
        #expect(shown?["linkinfo"]?["info_data"]?["id"] == 42)
        #expect(shown?["linkinfo"]?["info_data"]?["protocol"] == "802.1Q")
        try netlink.deleteLink(index: link.index)
        #expect(try netlink.link(named: "low0.42") == nil)
        #expect(throws: NetlinkError.self) { try netlink.deleteLink(index: link.index) }
    }
}

/// Whether this kernel has ipvlan (built in or loaded): /sys/module/ipvlan exists then.
let kernelHasIpvlan = access("/sys/module/ipvlan", F_OK) == 0

@Suite struct HostKernelTests {
    /// On this host's kernel (no ipvlan, no 8021q) creation fails with EOPNOTSUPP and the
    /// kernel's own words, not a bare errno.
    @Test(
        .enabled(
            if: !Testbed.insideVM && !kernelHasIpvlan,
            "this kernel has ipvlan: the missing-kernel error cannot be shown here"))
    func hostKernelLacksIpvlanAndVlan() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let ns = try bed.namespace("k")
        try bed.ip(ns, "link", "add", "low0", "type", "veth", "peer", "name", "low0p")
        let netlink = try RouteNetlink(in: try NetworkNamespace(path: bed.path(ns)))
        let lower = try #require(try netlink.link(named: "low0"))
        for kind in [LinkKind.ipvlan(mode: .l2), .vlan(id: 5)] {
            do {
                try netlink.createLink(LinkRequest(name: "x0", kind: kind, parentIndex: lower.index))
                Issue.record("the host kernel created a \(kind.name) link; the VM suite is then not needed for it")
                try? netlink.deleteLink(index: try #require(try netlink.link(named: "x0")).index)
            } catch {
                #expect(error.errno == EOPNOTSUPP)
                #expect(error.description.contains("create link \"x0\" (\(kind.name))"))
                #expect(error.extendedAck == "Unknown device type")
            }
        }
    }
}

extension String {
    /// A small text file (a /proc file, a log, a config), read whole.
    init(contentsOfProcFile path: String) throws {
        do {
            self = String(decoding: try FileIO.readFile(path), as: UTF8.self)
        } catch {
            throw TestbedError(description: "cannot read \(path): \(error)")
        }
    }
}

/// On this host's kernel, the ipvlan and vlan plugins fail ADD with the kernel's lack named
/// (code 100), and leave nothing behind.
@Suite struct HostKernelPluginTests {
    @Test(
        .enabled(
            if: !Testbed.insideVM && !kernelHasIpvlan,
            "this kernel has ipvlan: the missing-kernel error cannot be shown here"),
        arguments: [("ipvlan", "ipvlan"), ("vlan", "vlan (802.1Q)")])
    func addSaysTheKernelLacksTheLinkType(_ plugin: String, _ kind: String) throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        let container = try bed.namespace("c")
        let config =
            #"{"cniVersion":"1.1.0","name":"n","type":"\#(plugin)","master":"up0","vlanId":7,"ipam":{"type":"static","addresses":[{"address":"10.9.9.9/24"}]}}"#
        let add = try bed.plugin(plugin, "ADD", config: config, host: host, netns: bed.path(container))
        #expect(add.status == 1 && add.errorCode == 100)
        #expect(add.json?["msg"]?.stringValue == "the kernel does not support \(kind) links")
        #expect(add.json?["details"]?.stringValue?.contains("Unknown device type") == true)
        #expect(try bed.linkNames(container) == ["lo"])
    }
}
