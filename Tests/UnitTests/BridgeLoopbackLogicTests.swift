import Addressing
import CNI
import HostFakeSupport
import JSON
import Netlink
import Testing

@testable import Plugins

#if canImport(Glibc)
    import Glibc
#endif

// Root-less tests of the bridge's and loopback's decisions against a `FakeNode` (see
// SubInterfacePluginLogicTests.swift for the helpers).

func bridgeConfig(_ extra: String = "", ipam: Bool = true) -> String {
    #"{"cniVersion":"1.1.0","name":"net1","type":"bridge","bridge":"br0","isGateway":true"#
        + extra + (ipam ? #","ipam":{"type":"host-local"}"# : "") + "}"
}

/// A node whose bridge br0 already serves other containers: up, with the gateway 10.1.0.1/24.
func bridgeNode(existingBridge: Bool = true) -> FakeNode {
    let node = subInterfaceNode()
    if existingBridge {
        let bridge = node.addLink(
            Link(index: 0, name: "br0", flags: FakeNode.up, address: MACAddress("02:bb:00:00:00:01"), kind: "bridge"))
        node.namespaces["host"]!.addresses.append(
            InterfaceAddress(interfaceIndex: bridge.index, prefix: IPPrefix("10.1.0.1/24")!))
    }
    return node
}

/// `bridgeNode()` as a function value (its parameter has a default).
func bridgeNodeWithTheBridge() -> FakeNode { bridgeNode() }

@Suite struct BridgeLogicTests {
    @Test func addPlumbsTheVethThenAddressesThenFirewallInOrder() throws {
        let node = bridgeNode(existingBridge: false)
        let result = try BridgePlugin(host: FakeHost(node: node)).add(
            try pluginRequest(bridgeConfig(#","ipMasq":true,"macspoofchk":true"#)))
        let hostVeth = try #require(node.namespaces["host"]?.links.first { $0.kind == "veth" })
        let container = try #require(node.link("eth0", in: containerPath))
        #expect(
            normalized(node.mutationLog, prefix: "veth") == [
                "host newlink br0 bridge",
                "host up br0",
                "host newlink <tmp> veth peer eth0 in \(containerPath)",
                "host master <tmp> br0",
                "host up <tmp>",
                "ipam host-local ADD c1/eth0",
                "host newaddr br0 10.1.0.1/24",
                "host sysctl net/ipv4/ip_forward=1",
                "\(containerPath) newaddr eth0 10.1.0.5/24",
                "\(containerPath) up eth0",
                "\(containerPath) newroute 0.0.0.0/0 via 10.1.0.1 dev eth0",
                "firewall masquerade add iptables net1/c1/eth0",
                "firewall spoofcheck add nftables net1/c1/eth0 on <tmp> \(container.address!)",
            ])
        #expect(container.parentIndex == hostVeth.index && hostVeth.parentIndex == container.index)
        #expect(result.interfaces.map(\.name) == ["br0", hostVeth.name, "eth0"])
        #expect(result.interfaces.map(\.sandbox) == [nil, nil, containerPath])
        #expect(result.ips.map(\.interface) == [BridgePlugin.containerInterfaceIndex])
        let bridge = try #require(node.link("br0"))
        #expect(bridge.address != nil, "a bridge gets a MAC of its own, so it does not change as ports come and go")
    }

    @Test func aFailureAtEveryStepLeavesNothing() throws {
        let config = bridgeConfig(#","ipMasq":true,"macspoofchk":true"#)
        let complete = bridgeNode()
        _ = try BridgePlugin(host: FakeHost(node: complete)).add(try pluginRequest(config))
        #expect(complete.mutations == 10, "\(complete.mutationLog)")
        let undos = eachFailingStep(complete.mutations, node: bridgeNodeWithTheBridge) { node in
            _ = try BridgePlugin(host: FakeHost(node: node)).add(try pluginRequest(config))
        }
        for (index, undo) in undos.enumerated() {
            let step = index + 1
            // Registered in this order: veth (step 1), IPAM (4), masquerade (9), spoof check
            // (10, the last: nothing fails after it); undone newest first.
            let expected = [
                step > 9 ? "firewall masquerade remove iptables net1/c1/eth0" : nil,
                step > 4 ? "ipam host-local DEL c1/eth0" : nil,
                step > 1 ? "host dellink <tmp>" : nil,
            ].compactMap { $0 }
            #expect(undo == expected, "step \(step)")
        }
    }

    @Test func anExistingLinkThatIsNotABridgeIsRefused() throws {
        let node = subInterfaceNode()
        node.addLink(Link(index: 0, name: "br0", kind: "macvlan"))
        let error = cniError { _ = try BridgePlugin(host: FakeHost(node: node)).add(try pluginRequest(bridgeConfig())) }
        #expect(
            error?.code == 7 && error?.msg.contains("not a bridge (it is a macvlan)") == true && node.mutations == 0)
    }

    @Test func aBridgeMadeConcurrentlyIsTakenAsIs() throws {
        let node = subInterfaceNode()
        // Another ADD made br0 between our lookup and our RTM_NEWLINK: EEXIST, looked up again.
        node.scriptedErrors = [("host newlink br0", EEXIST)]
        let error = cniError { _ = try BridgePlugin(host: FakeHost(node: node)).add(try pluginRequest(bridgeConfig())) }
        #expect(error?.code == 11 && error?.msg == #"bridge "br0" vanished while being set up"#)
    }

    @Test func anAddressOfAnotherSubnetNeedsForceAddress() throws {
        let node = bridgeNode(existingBridge: false)
        let bridge = node.addLink(Link(index: 0, name: "br0", flags: FakeNode.up, kind: "bridge"))
        node.namespaces["host"]!.addresses.append(
            InterfaceAddress(interfaceIndex: bridge.index, prefix: IPPrefix("192.168.5.1/24")!))
        let refused = cniError {
            _ = try BridgePlugin(host: FakeHost(node: node)).add(try pluginRequest(bridgeConfig()))
        }
        #expect(refused?.code == 7 && refused?.msg.contains("set forceAddress") == true)
        #expect(node.namespaces["host"]!.links.allSatisfy { $0.kind != "veth" }, "the veth is undone")
        node.log = []
        _ = try BridgePlugin(host: FakeHost(node: node)).add(try pluginRequest(bridgeConfig(#","forceAddress":true"#)))
        #expect(node.mutationLog.contains("host deladdr br0 192.168.5.1/24"))
        #expect(
            node.namespaces["host"]!.addresses.map(\.prefix.description).sorted() == ["10.0.0.2/24", "10.1.0.1/24"])
    }

    @Test func portSettingsAndVLANs() throws {
        let node = bridgeNode()
        _ = try BridgePlugin(host: FakeHost(node: node)).add(
            try pluginRequest(
                bridgeConfig(
                    #","hairpinMode":true,"vlan":0,"vlanTrunk":[{"id":7},{"minID":10,"maxID":12}]"#, ipam: false)))
        #expect(
            normalized(node.mutationLog, prefix: "veth") == [
                "host vlan_filtering br0 true",
                "host newlink <tmp> veth peer eth0 in \(containerPath)",
                "host master <tmp> br0",
                "host brport <tmp> hairpin=true isolated=-",
                "host delvlans <tmp> [1]",
                "host addvlans <tmp> [7, 10, 11, 12]",
                "host up <tmp>",
                "\(containerPath) up eth0",
            ])
    }

    @Test func anAccessVLANsGatewayLivesOnAVLANLinkOfTheBridge() throws {
        let node = bridgeNode()
        let plugin = BridgePlugin(host: FakeHost(node: node))
        _ = try plugin.add(try pluginRequest(bridgeConfig(#","vlan":100"#)))
        let log = normalized(node.mutationLog, prefix: "veth")
        #expect(log.contains("host addvlans br0 [100] self"))
        #expect(log.contains("host newlink br0.100 vlan on br0"))
        #expect(log.contains("host newaddr br0.100 10.1.0.1/24"))
        #expect(node.log.contains("lock bridge br0"))

        // A second container on the VLAN: the gateway link is shared; the first DEL keeps it,
        // the last removes it and the VLAN from the bridge itself.
        node.addNamespace("/run/netns/c2")
        _ = try plugin.add(try pluginRequest(bridgeConfig(#","vlan":100"#), netns: "/run/netns/c2", containerID: "c2"))
        try plugin.delete(try pluginRequest(bridgeConfig(#","vlan":100"#), "DEL"))
        #expect(node.link("br0.100") != nil)
        node.log = []
        try plugin.delete(
            try pluginRequest(bridgeConfig(#","vlan":100"#), "DEL", netns: "/run/netns/c2", containerID: "c2"))
        #expect(node.link("br0.100") == nil)
        #expect(node.mutationLog.suffix(2) == ["host dellink br0.100", "host delvlans br0 [100] self"])
    }

    @Test func deleteRemovesIPAMFirewallsEverywhereThenTheVeth() throws {
        let node = bridgeNode()
        let plugin = BridgePlugin(host: FakeHost(node: node))
        let before = node.state
        let config = bridgeConfig(#","ipMasq":true,"macspoofchk":true"#)
        _ = try plugin.add(try pluginRequest(config))
        node.log = []
        try plugin.delete(try pluginRequest(config, "DEL"))
        #expect(
            node.mutationLog == [
                "ipam host-local DEL c1/eth0",
                "firewall masquerade remove iptables net1/c1/eth0",
                "firewall masquerade remove nftables net1/c1/eth0",
                "firewall spoofcheck remove nftables net1/c1/eth0",
                "\(containerPath) dellink eth0",
            ])
        #expect(node.state == before, "the veth's host end went with its peer")
    }

    /// The rules go even when the container's namespace is gone (the reference leaks them).
    @Test func deleteWithTheNamespaceGoneStillRemovesTheRules() throws {
        let node = bridgeNode()
        node.installedFirewalls = ["nftables"]
        try BridgePlugin(host: FakeHost(node: node)).delete(
            try pluginRequest(bridgeConfig(#","ipMasq":true,"macspoofchk":true"#), "DEL", netns: "/run/netns/gone"))
        #expect(
            node.mutationLog == [
                "ipam host-local DEL c1/eth0",
                "firewall masquerade remove nftables net1/c1/eth0",
                "firewall spoofcheck remove nftables net1/c1/eth0",
            ])
    }

    @Test func checkWantsThePeerOnTheBridge() throws {
        let node = bridgeNode()
        let plugin = BridgePlugin(host: FakeHost(node: node))
        let check = try checkRequest(after: try plugin.add(try pluginRequest(bridgeConfig()))) { bridgeConfig($0) }
        #expect(cniError { try plugin.check(check) } == nil)
        let port = try #require(node.namespaces["host"]!.links.firstIndex { $0.kind == "veth" })
        node.namespaces["host"]!.links[port].masterIndex = nil
        #expect(cniError { try plugin.check(check) }?.msg == #"the peer of "eth0" is not a port of bridge "br0""#)
        node.namespaces["host"]!.links.removeAll { $0.name == "br0" }
        #expect(cniError { try plugin.check(check) }?.msg == #"bridge "br0" is missing"#)
    }

    /// An IPAM result with an IPv6 gateway for an IPv4 address (or such a route) is refused
    /// before anything is configured with it, and the ADD leaves the node as it was.
    @Test func aGatewayOfTheOtherFamilyIsRefused() throws {
        for (ips, routes) in [
            ([CNIResult.IPConfig(address: IPPrefix("10.1.0.5/24")!, gateway: IPAddress("fd00::1"))], []),
            (
                [CNIResult.IPConfig(address: IPPrefix("10.1.0.5/24")!)],
                [CNIResult.Route(destination: IPPrefix("0.0.0.0/0")!, gateway: IPAddress("fd00::1"))]
            ),
        ] {
            let node = bridgeNode()
            let before = node.state
            node.ipamResult = CNIResult(cniVersion: "1.1.0", ips: ips, routes: routes)
            let error = cniError {
                _ = try BridgePlugin(host: FakeHost(node: node)).add(try pluginRequest(bridgeConfig()))
            }
            #expect(error?.code == 101 && error?.msg.contains("other family") == true, "\(String(describing: error))")
            #expect(node.state == before, "the ADD was undone")
        }
    }

    /// CHECK compares the container's MAC and the host end's name and MAC with prevResult, as
    /// the reference does.
    @Test func checkComparesMACsAndTheHostEndsName() throws {
        let node = bridgeNode()
        let plugin = BridgePlugin(host: FakeHost(node: node))
        let result = try plugin.add(try pluginRequest(bridgeConfig()))
        let recorded = try result.json(as: "1.1.0")
        let interfaces = try #require(recorded["interfaces"]?.arrayValue)
        let hostEnd = try #require(interfaces.firstIndex { $0["sandbox"] == nil && $0["name"]?.stringValue != "br0" })
        let containerEnd = try #require(interfaces.firstIndex { $0["sandbox"] != nil })
        func changed(_ index: Int, _ key: String, _ value: String) -> CNIError? {
            guard case .object(var top) = recorded, case .object(var entry) = interfaces[index] else { return nil }
            entry[key] = .string(value)
            var list = interfaces
            list[index] = .object(entry)
            top["interfaces"] = .array(list)
            let config = bridgeConfig(#","prevResult":\#(JSONValue.object(top).serialized(indent: 0))"#)
            return cniError { try plugin.check(try pluginRequest(config, "CHECK")) }
        }
        #expect(changed(containerEnd, "mac", "02:00:00:00:00:99")?.code == 103)
        #expect(changed(hostEnd, "mac", "02:00:00:00:00:98")?.code == 103)
        #expect(changed(hostEnd, "name", "vethnotmine")?.code == 103)
        #expect(changed(containerEnd, "name", "eth0")?.code == nil, "the unchanged result still passes")
    }

    @Test func garbageCollectionKeepsTheValidAttachments() throws {
        let node = bridgeNode()
        let plugin = BridgePlugin(host: FakeHost(node: node))
        node.addNamespace("/run/netns/c2")
        for id in ["c1", "c2"] {
            _ = try plugin.add(
                try pluginRequest(bridgeConfig(#","ipMasq":true"#), netns: "/run/netns/\(id)", containerID: id))
        }
        let gc =
            #"{"cniVersion":"1.1.0","name":"net1","type":"bridge","bridge":"br0","ipMasq":true,"ipam":{"type":"host-local"},"cni.dev/valid-attachments":[{"containerID":"c2","ifname":"eth0"}]}"#
        try plugin.garbageCollect(try pluginRequest(gc, "GC"))
        #expect(node.masquerades.keys.sorted() == ["iptables net1/c2/eth0"])
        #expect(node.log.last?.hasPrefix("ipam host-local GC") == true, "IPAM's GC comes after the rules'")
    }

    @Test func statusNeedsTheConfiguredFirewall() throws {
        let node = bridgeNode()
        expectStatusNeedsNftables(node, config: bridgeConfig(#","ipMasq":true,"ipMasqBackend":"nftables""#)) {
            try BridgePlugin(host: FakeHost(node: node)).status($0)
        }
    }
}

@Suite struct LoopbackLogicTests {
    let config = #"{"cniVersion":"1.1.0","name":"lo","type":"loopback"}"#

    @Test func addBringsLoUpAndReportsItsAddresses() throws {
        let node = subInterfaceNode()
        node.namespaces[containerPath]!.addresses = [
            InterfaceAddress(interfaceIndex: 1, prefix: IPPrefix("127.0.0.1/8")!),
            InterfaceAddress(interfaceIndex: 1, prefix: IPPrefix("::1/128")!),
        ]
        let result = try LoopbackPlugin(host: FakeHost(node: node)).add(try pluginRequest(config))
        #expect(node.mutationLog == ["\(containerPath) up lo"])
        #expect(result.ips.map(\.address.description) == ["127.0.0.1/8", "::1/128"])
        #expect(
            result.interfaces == [CNIResult.Interface(name: "lo", mac: "00:00:00:00:00:00", sandbox: containerPath)])
    }

    @Test func aForeignAddressOnLoIsAnError() throws {
        let node = subInterfaceNode()
        node.namespaces[containerPath]!.addresses = [
            InterfaceAddress(interfaceIndex: 1, prefix: IPPrefix("10.0.0.9/8")!)
        ]
        let error = cniError { _ = try LoopbackPlugin(host: FakeHost(node: node)).add(try pluginRequest(config)) }
        #expect(error?.msg == #"loopback interface found with non-loopback address "10.0.0.9""#)
    }

    @Test func deleteSetsLoDownAndToleratesAGoneNamespace() throws {
        let node = subInterfaceNode()
        let plugin = LoopbackPlugin(host: FakeHost(node: node))
        _ = try plugin.add(try pluginRequest(config))
        try plugin.delete(try pluginRequest(config, "DEL"))
        try plugin.delete(try pluginRequest(config, "DEL", netns: "/run/netns/gone"))
        try plugin.delete(try pluginRequest(config, "DEL", netns: ""))
        #expect(node.mutationLog == ["\(containerPath) up lo", "\(containerPath) down lo"])
        #expect(cniError { try plugin.check(try pluginRequest(config, "CHECK")) }?.msg == "loopback interface is down")
    }
}
