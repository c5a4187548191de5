import Addressing
import CNI
import HostFakeSupport
import Netlink
import Testing

@testable import Plugins

// Root-less tests of ptp's decisions against a `FakeNode` (see SubInterfacePluginLogicTests.swift
// for the helpers): the order of its requests, what a failure at each step leaves (nothing),
// and what DEL, CHECK, GC and STATUS decide.

func ptpConfig(_ extra: String = "", ipam: Bool = true) -> String {
    #"{"cniVersion":"1.1.0","name":"net1","type":"ptp""# + extra
        + (ipam ? #","ipam":{"type":"host-local"}"# : "") + "}"
}

@Suite struct PtpLogicTests {
    /// IPAM first (its gateway becomes the host end's address), forwarding on, the veth made
    /// in the container's namespace; the container's address without its subnet route, the
    /// gateway on the link and the subnet and default routes through it; then the host end's
    /// /32 and the /32 route to the container; the masquerade last.
    @Test func addPlumbsIPAMThenTheVethThenBothEndsThenTheMasquerade() throws {
        let node = subInterfaceNode()
        let result = try PtpPlugin(host: FakeHost(node: node)).add(
            try pluginRequest(ptpConfig(#","ipMasq":true,"mtu":1400"#)))
        #expect(
            normalized(node.mutationLog, prefix: "veth") == [
                "ipam host-local ADD c1/eth0",
                "host sysctl net/ipv4/ip_forward=1",
                "host newlink <tmp> veth peer eth0 in \(containerPath)",
                "\(containerPath) newaddr eth0 10.1.0.5/24",
                "\(containerPath) up eth0",
                "\(containerPath) newroute 10.1.0.1/32 dev eth0",
                "\(containerPath) newroute 10.1.0.0/24 via 10.1.0.1 dev eth0",
                "\(containerPath) newroute 0.0.0.0/0 via 10.1.0.1 dev eth0",
                "host newaddr <tmp> 10.1.0.1/32",
                "host up <tmp>",
                "host newroute 10.1.0.5/32 dev <tmp>",
                "firewall masquerade add iptables net1/c1/eth0",
            ])
        let hostEnd = try #require(node.namespaces["host"]?.links.first { $0.kind == "veth" })
        let container = try #require(node.link("eth0", in: containerPath))
        #expect(hostEnd.mtu == 1400 && container.mtu == 1400)
        #expect(container.parentIndex == hostEnd.index && hostEnd.parentIndex == container.index)
        let address = try #require(node.namespaces[containerPath]?.addresses.first)
        #expect(address.flags & InterfaceAddress.noPrefixRoute != 0, "no on-link route for the subnet")
        let linkRoute = try #require(node.namespaces[containerPath]?.routes.first)
        #expect(linkRoute.scope == Route.linkScope)
        #expect(result.interfaces.map(\.name) == [hostEnd.name, "eth0"])
        #expect(result.interfaces.map(\.sandbox) == [nil, containerPath])
        #expect(result.ips.map(\.interface) == [PtpPlugin.containerInterfaceIndex])
        #expect(node.masquerades["iptables net1/c1/eth0"] == [IPPrefix("10.1.0.5/24")!])
    }

    /// An IPv6 address: forwarding for IPv6, IPv6 on the host end turned on, the gateway as a
    /// /128 without duplicate address detection, the /128 route to the container.
    @Test func anIPv6AttachmentEnablesIPv6OnTheHostEnd() throws {
        let node = subInterfaceNode()
        node.ipamResult = CNIResult(
            cniVersion: "1.1.0",
            ips: [CNIResult.IPConfig(address: IPPrefix("fd00:1::5/64")!, gateway: IPAddress("fd00:1::1"))])
        _ = try PtpPlugin(host: FakeHost(node: node)).add(try pluginRequest(ptpConfig()))
        let log = normalized(node.mutationLog, prefix: "veth")
        #expect(log.contains("host sysctl net/ipv6/conf/all/forwarding=1"))
        #expect(!log.contains("host sysctl net/ipv4/ip_forward=1"))
        let hostEnd = try #require(node.namespaces["host"]?.links.first { $0.kind == "veth" })
        #expect(log.contains("host sysctl net/ipv6/conf/\(hostEnd.name)/disable_ipv6=0"))
        #expect(log.contains("host newaddr <tmp> fd00:1::1/128"))
        #expect(log.contains("host newroute fd00:1::5/128 dev <tmp>"))
        let own = try #require(node.namespaces["host"]?.addresses.first { $0.interfaceIndex == hostEnd.index })
        #expect(own.flags & InterfaceAddress.noDuplicateAddressDetection != 0)
    }

    /// A failure at any of the ADD's steps leaves the node as it was (sysctls aside): each
    /// step registered its undo, run newest first.
    @Test func aFailureAtEveryStepLeavesNothing() throws {
        let config = ptpConfig(#","ipMasq":true"#)
        let complete = subInterfaceNode()
        _ = try PtpPlugin(host: FakeHost(node: complete)).add(try pluginRequest(config))
        #expect(complete.mutations == 12, "\(complete.mutationLog)")
        let undos = eachFailingStep(complete.mutations, node: subInterfaceNode) { node in
            _ = try PtpPlugin(host: FakeHost(node: node)).add(try pluginRequest(config))
        }
        for (index, undo) in undos.enumerated() {
            let step = index + 1
            // Registered: IPAM (step 1), the veth (3), the masquerade (12, the last).
            let expected = [step > 3 ? "host dellink <tmp>" : nil, step > 1 ? "ipam host-local DEL c1/eth0" : nil]
            #expect(undo == expected.compactMap { $0 }, "step \(step)")
        }
    }

    /// Every address needs a gateway (the host end's address): without one, code 7 naming
    /// the address, and the IPAM's reservation is given back.
    @Test func anAddressWithoutAGatewayIsRefused() throws {
        let node = subInterfaceNode()
        let before = node.state
        node.ipamResult = CNIResult(cniVersion: "1.1.0", ips: [CNIResult.IPConfig(address: IPPrefix("10.1.0.5/24")!)])
        let error = cniError { _ = try PtpPlugin(host: FakeHost(node: node)).add(try pluginRequest(ptpConfig())) }
        #expect(error?.code == 7 && error?.msg.contains("needs a gateway for 10.1.0.5/24") == true)
        #expect(node.state == before && node.mutationLog.last == "ipam host-local DEL c1/eth0")
    }

    /// Without an ipam section there is nothing to route: code 7 before anything is made.
    @Test func noIPAMIsAConfigError() throws {
        let node = subInterfaceNode()
        let error = cniError {
            _ = try PtpPlugin(host: FakeHost(node: node)).add(try pluginRequest(ptpConfig(ipam: false)))
        }
        #expect(error?.code == 7 && error?.msg.contains("needs an \"ipam\" section") == true && node.mutations == 0)
    }

    /// DEL: IPAM, the masquerade of every installed backend, then the container's veth end
    /// (the host end goes with it); with the namespace gone, IPAM and the rules still go.
    @Test func deleteRemovesIPAMTheMasqueradeThenTheVeth() throws {
        let node = subInterfaceNode()
        let plugin = PtpPlugin(host: FakeHost(node: node))
        let before = node.state
        let config = ptpConfig(#","ipMasq":true"#)
        _ = try plugin.add(try pluginRequest(config))
        node.log = []
        try plugin.delete(try pluginRequest(config, "DEL"))
        #expect(
            node.mutationLog == [
                "ipam host-local DEL c1/eth0",
                "firewall masquerade remove iptables net1/c1/eth0",
                "firewall masquerade remove nftables net1/c1/eth0",
                "\(containerPath) dellink eth0",
            ])
        #expect(node.state == before)
        node.log = []
        try plugin.delete(try pluginRequest(config, "DEL", netns: "/run/netns/gone"))
        #expect(
            node.mutationLog == [
                "ipam host-local DEL c1/eth0",
                "firewall masquerade remove iptables net1/c1/eth0",
                "firewall masquerade remove nftables net1/c1/eth0",
            ])
    }

    /// CHECK compares the container's end with the previous result: a missing address or a
    /// missing veth is code 103 naming it.
    @Test func checkComparesTheContainersEnd() throws {
        let node = subInterfaceNode()
        let plugin = PtpPlugin(host: FakeHost(node: node))
        let check = try checkRequest(after: try plugin.add(try pluginRequest(ptpConfig()))) { ptpConfig($0) }
        #expect(cniError { try plugin.check(check) } == nil)
        node.namespaces[containerPath]!.addresses.removeAll()
        let missingAddress = cniError { try plugin.check(check) }
        #expect(missingAddress?.code == 103 && missingAddress?.msg.contains("10.1.0.5") == true, "\(missingAddress!)")
        node.namespaces[containerPath]!.links.removeAll { $0.name == "eth0" }
        #expect(cniError { try plugin.check(check) }?.msg == #"veth "eth0" not found in netns \#(containerPath)"#)
    }

    /// STATUS: code 50 when the masquerade's backend cannot be used.
    @Test func statusNeedsTheConfiguredFirewall() throws {
        let node = subInterfaceNode()
        expectStatusNeedsNftables(node, config: ptpConfig(#","ipMasq":true,"ipMasqBackend":"nftables""#)) {
            try PtpPlugin(host: FakeHost(node: node)).status($0)
        }
    }
}
