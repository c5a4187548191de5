import Addressing
import CNI
import HostFakeSupport
import Netlink
import Testing

@testable import Plugins

#if canImport(Glibc)
    import Glibc
#endif

// Root-less tests of macvlan's, ipvlan's and vlan's decisions: the plugins run against a
// `FakeNode`, and the tests check which requests went to which namespace in which order, what
// a failure at each step leaves (nothing), and what CHECK, DEL and STATUS decide.

let containerPath = "/run/netns/c1"

/// A request as a runtime sends it, for a container in `containerPath`.
func pluginRequest(
    _ config: String, _ command: String = "ADD", netns: String = containerPath, containerID: String = "c1",
    ifName: String = "eth0", args: String = ""
) throws -> CNIRequest {
    let env = try #require(
        try CNIEnvironment.load(from: [
            "CNI_COMMAND": command, "CNI_CONTAINERID": containerID, "CNI_NETNS": netns, "CNI_IFNAME": ifName,
            "CNI_PATH": "/opt/cni/bin", "CNI_ARGS": args,
        ]))
    return CNIRequest(environment: env, config: try NetworkConfig(bytes: Array(config.utf8)))
}

/// The CNI error `body` fails with (nil when it succeeds).
func cniError(_ body: () throws -> Void) -> CNIError? {
    do {
        try body()
        return nil
    } catch {
        return PluginRunner.classify(error)
    }
}

/// The IPAM result the fake's IPAM hands out: 10.1.0.5/24 via 10.1.0.1, a default route.
func ipamResult() -> CNIResult {
    CNIResult(
        cniVersion: "1.1.0",
        ips: [CNIResult.IPConfig(address: IPPrefix("10.1.0.5/24")!, gateway: IPAddress("10.1.0.1"))],
        routes: [CNIResult.Route(destination: IPPrefix("0.0.0.0/0")!)])
}

/// A node with the host's uplink eth0 (default route), the container's namespace, and an IPAM.
func subInterfaceNode() -> FakeNode {
    let node = FakeNode()
    node.addUplink()
    node.addNamespace(containerPath)
    node.ipamResult = ipamResult()
    return node
}

/// Runs `add` once per state-changing call it makes (`steps`), each time on a fresh node from
/// `makeNode` with that call made to fail: every run must fail and leave the node as it was
/// (sysctls aside). Returns each run's log after the failed call (the undo, normalized with
/// `prefix`), in step order, for the caller's checks of the undo order.
func eachFailingStep(
    _ steps: Int, node makeNode: () -> FakeNode, prefix: String = "veth", _ add: (FakeNode) throws -> Void
) -> [[String]] {
    (1...steps).map { step in
        let node = makeNode()
        let before = node.state
        node.failingMutation = step
        let error = cniError { try add(node) }
        #expect(error != nil, "step \(step)")
        #expect(node.state == before, "step \(step): \(node.mutationLog)")
        let log = normalized(node.mutationLog, prefix: prefix)
        guard let failed = log.firstIndex(where: { $0.hasSuffix("-> failed") }) else {
            Issue.record("step \(step) did not fail: \(log)")
            return []
        }
        return Array(log[(failed + 1)...])
    }
}

/// A CHECK request whose prevResult is `result`, in the config `config` makes of the extra keys.
func checkRequest(after result: CNIResult, _ config: (String) -> String) throws -> CNIRequest {
    let previous = try result.json(as: "1.1.0").serialized(indent: 0)
    return try pluginRequest(config(#","prevResult":\#(previous)"#), "CHECK")
}

/// STATUS of a config with `ipMasqBackend: "nftables"`: fine while nftables is usable, code 50
/// naming it once it is not.
func expectStatusNeedsNftables(_ node: FakeNode, config: String, _ status: (CNIRequest) throws -> Void) {
    #expect(cniError { try status(try pluginRequest(config, "STATUS")) } == nil)
    node.installedFirewalls = ["iptables"]
    let error = cniError { try status(try pluginRequest(config, "STATUS")) }
    #expect(error?.code == 50 && error?.msg == "the nftables firewall backend is not usable")
}

/// Log lines with the attachment's temporary link name (prefix + 8 hex digits) written as "<tmp>".
func normalized(_ lines: [String], prefix: String) -> [String] {
    lines.map { line in
        line.split(separator: " ", omittingEmptySubsequences: false).map { word in
            word.hasPrefix(prefix) && word.count == prefix.count + 8
                && word.dropFirst(prefix.count).allSatisfy(\.isHexDigit) ? "<tmp>" : String(word)
        }.joined(separator: " ")
    }
}

func macvlanConfig(_ extra: String = #","master":"eth0""#, ipam: Bool = true, version: String = "1.1.0") -> String {
    #"{"cniVersion":"\#(version)","name":"net1","type":"macvlan"\#(extra)\#(ipam ? #","ipam":{"type":"host-local"}"# : "")}"#
}

@Suite struct MacvlanLogicTests {
    @Test func addCreatesInTheContainerUnderItsNameAndConfiguresInOrder() throws {
        let node = subInterfaceNode()
        let result = try MacvlanPlugin(host: FakeHost(node: node)).add(try pluginRequest(macvlanConfig()))
        #expect(
            normalized(node.mutationLog, prefix: "mv") == [
                "host newlink eth0 macvlan on eth0 in \(containerPath)",
                "ipam host-local ADD c1/eth0",
                "\(containerPath) sysctl net/ipv4/conf/eth0/arp_notify=1",
                "\(containerPath) sysctl net/ipv6/conf/eth0/ndisc_notify=1",
                "\(containerPath) newaddr eth0 10.1.0.5/24",
                "\(containerPath) up eth0",
                "\(containerPath) newroute 0.0.0.0/0 via 10.1.0.1 dev eth0",
            ])
        #expect(node.log.first == "lock attachment" && node.log.last == "unlock attachment")
        let link = try #require(node.link("eth0", in: containerPath))
        #expect(link.kind == "macvlan" && link.macvlanMode == .bridge && link.parentIndex == 2 && link.isUp)
        #expect(
            result.interfaces == [
                CNIResult.Interface(name: "eth0", mac: link.address?.description, mtu: 1500, sandbox: containerPath)
            ])
        #expect(
            result.ips == [
                CNIResult.IPConfig(address: IPPrefix("10.1.0.5/24")!, gateway: IPAddress("10.1.0.1"), interface: 0)
            ])
        #expect(node.namespaces["host"]?.links.map(\.name) == ["eth0"], "nothing is made in the host namespace")
    }

    @Test func dualStackEnablesIPv6BeforeTheAddresses() throws {
        let node = subInterfaceNode()
        node.ipamResult?.ips.append(CNIResult.IPConfig(address: IPPrefix("fd00::5/64")!, gateway: IPAddress("fd00::1")))
        node.ipamResult?.routes.append(CNIResult.Route(destination: IPPrefix("::/0")!))
        _ = try MacvlanPlugin(host: FakeHost(node: node)).add(try pluginRequest(macvlanConfig()))
        #expect(
            Array(node.mutationLog.dropFirst(2)) == [
                "\(containerPath) sysctl net/ipv4/conf/eth0/arp_notify=1",
                "\(containerPath) sysctl net/ipv6/conf/eth0/ndisc_notify=1",
                "\(containerPath) sysctl net/ipv6/conf/lo/disable_ipv6=0",
                "\(containerPath) sysctl net/ipv6/conf/eth0/disable_ipv6=0",
                "\(containerPath) newaddr eth0 10.1.0.5/24",
                "\(containerPath) newaddr eth0 fd00::5/64",
                "\(containerPath) up eth0",
                "\(containerPath) newroute 0.0.0.0/0 via 10.1.0.1 dev eth0",
                "\(containerPath) newroute ::/0 via fd00::1 dev eth0",
            ])
    }

    /// Every state-changing step of ADD fails in turn: each time the ADD fails and the node is
    /// as before (no link, no reservation), and the undo steps ran newest first.
    @Test func aFailureAtEveryStepLeavesNothing() throws {
        let complete = subInterfaceNode()
        _ = try MacvlanPlugin(host: FakeHost(node: complete)).add(try pluginRequest(macvlanConfig()))
        let steps = complete.mutations
        #expect(steps == 7)
        for step in 1...steps {
            let node = subInterfaceNode()
            let before = node.state
            node.failingMutation = step
            let error = cniError {
                _ = try MacvlanPlugin(host: FakeHost(node: node)).add(try pluginRequest(macvlanConfig()))
            }
            #expect(error != nil, "step \(step)")
            #expect(node.state == before, "step \(step): \(node.mutationLog)")
            let log = normalized(node.mutationLog, prefix: "mv")
            let failed = try #require(log.firstIndex { $0.hasSuffix("-> failed") })
            let undo = Array(log[(failed + 1)...])
            let expected = [
                step > 2 ? "ipam host-local DEL c1/eth0" : nil,
                step > 1 ? "\(containerPath) dellink eth0" : nil,
            ].compactMap { $0 }
            #expect(undo == expected, "step \(step)")
        }
    }

    @Test func refusalsComeBeforeAnyChange() throws {
        func refusal(_ config: String, prepare: (FakeNode) -> Void = { _ in }) -> (CNIError?, Int) {
            let node = subInterfaceNode()
            prepare(node)
            let error = cniError { _ = try MacvlanPlugin(host: FakeHost(node: node)).add(try pluginRequest(config)) }
            return (error, node.mutations)
        }
        let exists = refusal(macvlanConfig()) { $0.addLink(Link(index: 0, name: "eth0"), in: containerPath) }
        #expect(exists.0?.code == 4 && exists.0?.msg.contains("already exists") == true && exists.1 == 0)
        let noMaster = refusal(macvlanConfig(#","master":"nosuch0""#))
        #expect(
            noMaster.0?.code == 7 && noMaster.0?.msg == #"master "nosuch0" not found in the host netns"#
                && noMaster.1 == 0)
        let mtu = refusal(macvlanConfig(#","master":"eth0","mtu":9000"#))
        #expect(mtu.0?.code == 7 && mtu.0?.msg.contains("MTU 1500") == true && mtu.1 == 0)
        let noDefault = refusal(macvlanConfig("")) { $0.namespaces["host"]?.routes = [] }
        #expect(noDefault.0?.code == 7 && noDefault.0?.msg.contains("no default route") == true && noDefault.1 == 0)
    }

    @Test func masterDefaultsToTheDefaultRouteInterface() throws {
        let node = subInterfaceNode()
        node.addLink(Link(index: 0, name: "eth1", flags: FakeNode.up))
        _ = try MacvlanPlugin(host: FakeHost(node: node)).add(try pluginRequest(macvlanConfig("")))
        #expect(
            node.mutationLog.first == "host newlink eth0 macvlan on eth0 in \(containerPath)"
        )
    }

    @Test func linkInContainerCreatesBesideTheMasterThere() throws {
        let node = subInterfaceNode()
        node.addLink(Link(index: 0, name: "uplink", flags: FakeNode.up), in: containerPath)
        _ = try MacvlanPlugin(host: FakeHost(node: node)).add(
            try pluginRequest(macvlanConfig(#","master":"uplink","linkInContainer":true"#)))
        #expect(node.mutationLog.first == "\(containerPath) newlink eth0 macvlan on uplink")
    }

    @Test func withoutIPAMTheLinkIsOnlyBroughtUp() throws {
        let node = subInterfaceNode()
        let result = try MacvlanPlugin(host: FakeHost(node: node)).add(try pluginRequest(macvlanConfig(ipam: false)))
        #expect(
            node.mutationLog == [
                "host newlink eth0 macvlan on eth0 in \(containerPath)", "\(containerPath) up eth0",
            ])
        #expect(result.ips.isEmpty)
    }

    /// Below 0.3.0 a result without an address cannot be printed: ADD fails while it can still
    /// undo (the reference leaves the link).
    @Test func anUnprintableResultIsUndone() throws {
        let node = subInterfaceNode()
        let before = node.state
        let error = cniError {
            _ = try MacvlanPlugin(host: FakeHost(node: node)).add(
                try pluginRequest(macvlanConfig(ipam: false, version: "0.2.0")))
        }
        #expect(error != nil && node.state == before)
    }

    @Test func theKernelsRefusalIsExplained() throws {
        let node = subInterfaceNode()
        node.scriptedErrors = [("host newlink", EBUSY)]
        let error = cniError {
            _ = try MacvlanPlugin(host: FakeHost(node: node)).add(try pluginRequest(macvlanConfig()))
        }
        #expect(error?.code == 100 && error?.msg == #"master "eth0" cannot take a macvlan: it carries an ipvlan"#)
        #expect(!node.log.contains { $0.hasPrefix("ipam") })
    }

    /// An ADD killed after its RTM_NEWLINK leaves the link under CNI_IFNAME: the next ADD is
    /// refused (code 4) without touching it, and DEL removes it.
    @Test func aKilledAddsLinkIsRefusedByAddAndRemovedByDel() throws {
        let node = subInterfaceNode()
        let plugin = MacvlanPlugin(host: FakeHost(node: node))
        node.addLink(Link(index: 0, name: "eth0", kind: "macvlan", parentIndex: 2), in: containerPath)
        let error = cniError { _ = try plugin.add(try pluginRequest(macvlanConfig())) }
        #expect(error?.code == 4 && error?.msg == #"interface "eth0" already exists in netns /run/netns/c1"#)
        #expect(node.mutationLog.isEmpty && node.link("eth0", in: containerPath) != nil)
        try plugin.delete(try pluginRequest(macvlanConfig(), "DEL"))
        #expect(node.link("eth0", in: containerPath) == nil)
    }

    /// What an ADD of a 0.1 release killed between creating its link and renaming it left:
    /// DEL removes the link under the attachment's temporary name too.
    @Test func delRemovesWhatAnEarlierReleasesKilledAddLeft() throws {
        let node = subInterfaceNode()
        let request = try pluginRequest(macvlanConfig(), "DEL")
        let leftover = MacvlanPlugin.temporaryName(request.environment)
        node.addLink(Link(index: 0, name: leftover, kind: "macvlan", parentIndex: 2), in: containerPath)
        try MacvlanPlugin(host: FakeHost(node: node)).delete(request)
        #expect(node.mutationLog == ["ipam host-local DEL c1/eth0", "\(containerPath) dellink \(leftover)"])
    }

    /// EEXIST from RTM_NEWLINK without CNI_IFNAME in the container is the flavor's to explain.
    @Test func anEEXISTWithoutTheNameIsTheFlavorsToExplain() throws {
        let node = subInterfaceNode()
        node.scriptedErrors = [("host newlink", EEXIST)]
        let error = cniError {
            _ = try VlanPlugin(host: FakeHost(node: node)).add(
                try pluginRequest(#"{"cniVersion":"1.1.0","name":"v","type":"vlan","master":"eth0","vlanId":7}"#))
        }
        #expect(error?.code == 100 && error?.msg == #"master "eth0" already has a VLAN with id 7"#)
    }

    @Test func deleteReleasesTheAddressesThenRemovesTheLink() throws {
        let node = subInterfaceNode()
        let plugin = MacvlanPlugin(host: FakeHost(node: node))
        let before = node.state
        _ = try plugin.add(try pluginRequest(macvlanConfig()))
        node.log = []
        try plugin.delete(try pluginRequest(macvlanConfig(), "DEL"))
        #expect(node.mutationLog == ["ipam host-local DEL c1/eth0", "\(containerPath) dellink eth0"])
        #expect(node.state == before)
        node.log = []
        try plugin.delete(try pluginRequest(macvlanConfig(), "DEL"))
        #expect(node.mutationLog == ["ipam host-local DEL c1/eth0"], "a second DEL succeeds with nothing to remove")
    }

    @Test func deleteSucceedsWithTheNamespaceGoneOrNotGiven() throws {
        let node = subInterfaceNode()
        let plugin = MacvlanPlugin(host: FakeHost(node: node))
        try plugin.delete(try pluginRequest(macvlanConfig(), "DEL", netns: "/run/netns/gone"))
        try plugin.delete(try pluginRequest(macvlanConfig(), "DEL", netns: ""))
        #expect(node.mutationLog == ["ipam host-local DEL c1/eth0", "ipam host-local DEL c1/eth0"])
        #expect(
            node.log.filter { $0.hasPrefix("open ") } == ["open /run/netns/gone"],
            "no namespace is opened for an empty CNI_NETNS")
    }

    @Test func deleteLeavesALinkOfAnotherKind() throws {
        let node = subInterfaceNode()
        node.addLink(Link(index: 0, name: "eth0", kind: "veth"), in: containerPath)
        try MacvlanPlugin(host: FakeHost(node: node)).delete(try pluginRequest(macvlanConfig(), "DEL"))
        #expect(node.link("eth0", in: containerPath) != nil)
        #expect(node.mutationLog == ["ipam host-local DEL c1/eth0"])
    }

    /// prevResult of a successful ADD as a runtime would send it at CHECK.
    func checkConfig(_ result: CNIResult, extra: String = #","master":"eth0""#) throws -> String {
        let previous = try result.json(as: "1.1.0").serialized(indent: 0)
        return
            #"{"cniVersion":"1.1.0","name":"net1","type":"macvlan"\#(extra),"ipam":{"type":"host-local"},"prevResult":\#(previous)}"#
    }

    @Test func checkFindsEveryDrift() throws {
        func check(_ extra: String = #","master":"eth0""#, _ drift: (FakeNode, Link) -> Void) throws -> CNIError? {
            let node = subInterfaceNode()
            node.addLink(Link(index: 0, name: "eth1", flags: FakeNode.up))
            let plugin = MacvlanPlugin(host: FakeHost(node: node))
            let result = try plugin.add(try pluginRequest(macvlanConfig()))
            drift(node, try #require(node.link("eth0", in: containerPath)))
            return cniError { try plugin.check(try pluginRequest(try checkConfig(result, extra: extra), "CHECK")) }
        }
        func edit(_ node: FakeNode, _ body: (inout Link) -> Void) {
            let position = node.namespaces[containerPath]!.links.firstIndex { $0.name == "eth0" }!
            body(&node.namespaces[containerPath]!.links[position])
        }
        #expect(try check { _, _ in } == nil)
        #expect(
            try check { node, _ in edit(node) { $0.macvlanMode = .vepa } }?.msg
                == #"interface "eth0" is in macvlan mode vepa, not bridge"#)
        #expect(
            try check { node, _ in edit(node) { $0.address = MACAddress("02:aa:00:00:00:01") } }?.msg.contains(
                "has MAC 02:aa:00:00:00:01") == true)
        #expect(try check(#","master":"eth1""#) { _, _ in }?.msg == #"interface "eth0" is not on master "eth1""#)
        #expect(
            try check { node, _ in node.namespaces[containerPath]!.addresses = [] }?.msg
                == "address 10.1.0.5/24 is missing on eth0")
        #expect(
            try check { node, _ in node.namespaces[containerPath]!.routes = [] }?.msg
                == "route to 0.0.0.0/0 is missing in the container")
        #expect(
            try check { node, _ in edit(node) { $0.kind = "veth" } }?.msg
                == #"interface "eth0" is a veth, not a macvlan"#)
        #expect(
            try check { node, _ in node.namespaces[containerPath]!.links.removeAll { $0.name == "eth0" } }?.code == 103)
        #expect(try check { node, _ in node.ipamResult = nil } == nil, "CHECK does not ask the IPAM for a new result")
    }

    @Test func statusIsFiftyWithoutTheMaster() throws {
        let node = subInterfaceNode()
        let plugin = MacvlanPlugin(host: FakeHost(node: node))
        #expect(cniError { try plugin.status(try pluginRequest(macvlanConfig(), "STATUS")) } == nil)
        #expect(
            cniError { try plugin.status(try pluginRequest(macvlanConfig(#","master":"gone0""#), "STATUS")) }?.code
                == 50)
        node.namespaces["host"]?.routes = []
        #expect(cniError { try plugin.status(try pluginRequest(macvlanConfig(""), "STATUS")) }?.code == 50)
        #expect(node.mutations == 0)
    }
}

@Suite struct IpvlanVlanLogicTests {
    @Test func ipvlanCreatesWithModeAndFlags() throws {
        let node = subInterfaceNode()
        let config =
            #"{"cniVersion":"1.1.0","name":"net1","type":"ipvlan","master":"eth0","mode":"l3","flag":"private","ipam":{"type":"host-local"}}"#
        _ = try IpvlanPlugin(host: FakeHost(node: node)).add(try pluginRequest(config))
        #expect(
            node.mutationLog.first == "host newlink eth0 ipvlan on eth0 in \(containerPath)")
        let link = try #require(node.link("eth0", in: containerPath))
        #expect(link.ipvlanMode == .l3 && link.ipvlanFlags == .private)
    }

    /// Chained without IPAM after a plugin that made one interface: that interface is the master
    /// and the link takes prevResult's addresses and routes.
    @Test func ipvlanChainedTakesMasterAndAddressesFromPrevResult() throws {
        let node = subInterfaceNode()
        node.addLink(Link(index: 0, name: "uplink", flags: FakeNode.up))
        let previous =
            #"{"cniVersion":"1.1.0","interfaces":[{"name":"uplink"}],"ips":[{"address":"10.9.0.7/24","gateway":"10.9.0.1"}],"routes":[{"dst":"10.8.0.0/16"}]}"#
        let config = #"{"cniVersion":"1.1.0","name":"net1","type":"ipvlan","prevResult":\#(previous)}"#
        let result = try IpvlanPlugin(host: FakeHost(node: node)).add(try pluginRequest(config))
        let log = node.mutationLog
        #expect(log.first == "host newlink eth0 ipvlan on uplink in \(containerPath)")
        #expect(log.contains("\(containerPath) newaddr eth0 10.9.0.7/24"))
        #expect(log.last == "\(containerPath) newroute 10.8.0.0/16 via 10.9.0.1 dev eth0")
        #expect(result.ips.map(\.interface) == [0])
    }

    @Test func ipvlanOnAMacvlanMasterIsExplained() throws {
        let node = subInterfaceNode()
        node.scriptedErrors = [("host newlink", EBUSY)]
        let config =
            #"{"cniVersion":"1.1.0","name":"net1","type":"ipvlan","master":"eth0","ipam":{"type":"host-local"}}"#
        let error = cniError { _ = try IpvlanPlugin(host: FakeHost(node: node)).add(try pluginRequest(config)) }
        #expect(error?.msg == #"master "eth0" cannot take an ipvlan: it carries a macvlan"#)
    }

    @Test func vlanCreatesWithItsIdAndExplainsATakenId() throws {
        let config =
            #"{"cniVersion":"1.1.0","name":"net1","type":"vlan","master":"eth0","vlanId":42,"ipam":{"type":"host-local"}}"#
        let node = subInterfaceNode()
        _ = try VlanPlugin(host: FakeHost(node: node)).add(try pluginRequest(config))
        #expect(node.link("eth0", in: containerPath)?.vlanID == 42)
        #expect(
            node.mutationLog.first == "host newlink eth0 vlan on eth0 in \(containerPath)")

        let taken = subInterfaceNode()
        taken.scriptedErrors = [("host newlink", EEXIST)]
        let before = taken.state
        let error = cniError { _ = try VlanPlugin(host: FakeHost(node: taken)).add(try pluginRequest(config)) }
        #expect(error?.msg == #"master "eth0" already has a VLAN with id 42"# && taken.state == before)
    }

    @Test func vlanCheckComparesTheId() throws {
        let config =
            #"{"cniVersion":"1.1.0","name":"net1","type":"vlan","master":"eth0","vlanId":42,"ipam":{"type":"host-local"}}"#
        let node = subInterfaceNode()
        let plugin = VlanPlugin(host: FakeHost(node: node))
        let result = try plugin.add(try pluginRequest(config))
        let previous = try result.json(as: "1.1.0").serialized(indent: 0)
        let checkConfig =
            #"{"cniVersion":"1.1.0","name":"net1","type":"vlan","master":"eth0","vlanId":43,"ipam":{"type":"host-local"},"prevResult":\#(previous)}"#
        #expect(
            cniError { try plugin.check(try pluginRequest(checkConfig, "CHECK")) }?.msg
                == #"interface "eth0" has VLAN ID 42, not 43"#)
    }

    @Test func vlanRequiresAMaster() throws {
        let node = subInterfaceNode()
        let error = cniError {
            _ = try VlanPlugin(host: FakeHost(node: node)).add(
                try pluginRequest(#"{"cniVersion":"1.1.0","name":"n","type":"vlan","vlanId":1}"#))
        }
        #expect(error?.code == 7 && node.mutations == 0)
    }
}
