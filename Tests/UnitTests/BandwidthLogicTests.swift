import Addressing
import CNI
import HostFakeSupport
import Netlink
import Testing

@testable import Plugins

// Root-less tests of bandwidth's decisions against a `FakeNode` (see
// SubInterfacePluginLogicTests.swift for the helpers): which tc requests go to which link in
// which order, what a failure at each step leaves (nothing), passthrough, DEL and CHECK.

/// A node after a bridge or ptp ADD: the container's eth0 is a veth whose peer, vethc1, is
/// in the host namespace.
func bandwidthNode() -> FakeNode {
    let node = subInterfaceNode()
    let hostEnd = node.addLink(Link(index: 0, name: "vethc1", flags: FakeNode.up, mtu: 1450, kind: "veth"))
    let container = node.addLink(
        Link(index: 0, name: "eth0", flags: FakeNode.up, mtu: 1450, kind: "veth", parentIndex: hostEnd.index),
        in: containerPath)
    if let position = node.namespaces["host"]!.links.firstIndex(where: { $0.index == hostEnd.index }) {
        node.namespaces["host"]!.links[position].parentIndex = container.index
    }
    return node
}

let bandwidthPrevious =
    #"{"cniVersion":"1.1.0","interfaces":[{"name":"vethc1"},{"name":"eth0","sandbox":"\#(containerPath)"}],"ips":[{"address":"10.1.0.5/24","interface":1}]}"#

func bandwidthConfig(_ limits: String, previous: String? = bandwidthPrevious) -> String {
    #"{"cniVersion":"1.1.0","name":"net1","type":"bandwidth""# + limits
        + (previous.map { #","prevResult":\#($0)"# } ?? "") + "}"
}

let bothDirections = #","ingressRate":8000000,"ingressBurst":800000,"egressRate":16000000,"egressBurst":1600000"#

@Suite struct BandwidthLogicTests {
    static let ifb = BandwidthPlugin.ifbName(network: "net1", containerID: "c1")

    /// The tbf line the plugin's token bucket gives for `rate` and `burst` (bits), on `link`.
    static func tbf(_ link: String, _ rate: UInt64, _ burst: UInt64) -> String {
        let bucket = BandwidthPlugin.tokenBucket(rateBits: rate, burstBits: burst)
        return "host qdisc add tbf \(link) rate \(bucket.rate) limit \(bucket.limit) buffer \(bucket.buffer)"
    }

    /// Ingress: a TBF on the host end; egress: the ifb (up, the veth's MTU), the host end's
    /// ingress redirected to it, and a TBF on it; the ifb joins the result's interfaces.
    @Test func addShapesBothDirectionsOnTheHostEnd() throws {
        let node = bandwidthNode()
        let result = try BandwidthPlugin(host: FakeHost(node: node)).add(
            try pluginRequest(bandwidthConfig(bothDirections)))
        #expect(
            node.mutationLog == [
                Self.tbf("vethc1", 8_000_000, 800_000),
                "host newlink \(Self.ifb) ifb",
                "host up \(Self.ifb)",
                "host qdisc add ingress vethc1",
                "host filter add vethc1 redirect \(Self.ifb)",
                Self.tbf(Self.ifb, 16_000_000, 1_600_000),
            ])
        let ifb = try #require(node.link(Self.ifb))
        #expect(ifb.mtu == 1450 && ifb.isUp)
        #expect(result.interfaces.map(\.name) == ["vethc1", "eth0", Self.ifb])
        #expect(result.ips.map(\.address) == [IPPrefix("10.1.0.5/24")!])
    }

    /// Only an ingress limit: no ifb, no redirect.
    @Test func ingressAloneNeedsNoIFB() throws {
        let node = bandwidthNode()
        let result = try BandwidthPlugin(host: FakeHost(node: node)).add(
            try pluginRequest(bandwidthConfig(#","ingressRate":1000000,"ingressBurst":100000"#)))
        #expect(node.mutationLog == [Self.tbf("vethc1", 1_000_000, 100_000)])
        #expect(result.interfaces.count == 2)
    }

    /// `runtimeConfig.bandwidth` (the `bandwidth` capability, Kubernetes' annotations) when
    /// the config has no top-level limits.
    @Test func theRuntimesLimitsApplyWhenTheConfigHasNone() throws {
        let node = bandwidthNode()
        _ = try BandwidthPlugin(host: FakeHost(node: node)).add(
            try pluginRequest(
                bandwidthConfig(#","runtimeConfig":{"bandwidth":{"egressRate":2000000,"egressBurst":200000}}"#)))
        #expect(node.mutationLog.last == Self.tbf(Self.ifb, 2_000_000, 200_000))
        #expect(!node.mutationLog.contains { $0.hasPrefix("host qdisc add tbf vethc1") })
    }

    /// No limits: the previous result passes through untouched, and nothing is asked of the
    /// kernel (not even a namespace opened).
    @Test func noLimitsArePassthrough() throws {
        let node = bandwidthNode()
        let result = try BandwidthPlugin(host: FakeHost(node: node)).add(try pluginRequest(bandwidthConfig("")))
        #expect(node.log.isEmpty)
        #expect(result.interfaces.map(\.name) == ["vethc1", "eth0"])
        let unchained = try BandwidthPlugin(host: FakeHost(node: node)).add(
            try pluginRequest(bandwidthConfig("", previous: nil)))
        #expect(unchained.interfaces.isEmpty && node.log.isEmpty)
    }

    /// A failure at any step takes back everything made so far: the ifb and the host end's
    /// qdiscs (and with them the redirect).
    @Test func aFailureAtEveryStepLeavesNothing() throws {
        let complete = bandwidthNode()
        _ = try BandwidthPlugin(host: FakeHost(node: complete)).add(try pluginRequest(bandwidthConfig(bothDirections)))
        #expect(complete.mutations == 6, "\(complete.mutationLog)")
        _ = eachFailingStep(complete.mutations, node: bandwidthNode) { node in
            _ = try BandwidthPlugin(host: FakeHost(node: node)).add(try pluginRequest(bandwidthConfig(bothDirections)))
        }
    }

    /// Mistakes, with nothing made: limits but no previous result (code 7), a container
    /// interface that is not a veth (code 4), a host end the previous result does not list
    /// (code 7), a rate without its burst (code 7).
    @Test func mistakesMakeNothing() throws {
        let node = bandwidthNode()
        let plugin = BandwidthPlugin(host: FakeHost(node: node))
        let unchained = cniError {
            _ = try plugin.add(try pluginRequest(bandwidthConfig(bothDirections, previous: nil)))
        }
        #expect(unchained?.code == 7 && unchained?.msg.contains("chained plugin") == true)
        let other =
            #"{"cniVersion":"1.1.0","interfaces":[{"name":"vethzz"},{"name":"eth0","sandbox":"\#(containerPath)"}],"ips":[]}"#
        let unlisted = cniError {
            _ = try plugin.add(try pluginRequest(bandwidthConfig(bothDirections, previous: other)))
        }
        #expect(unlisted?.code == 7 && unlisted?.msg.contains("no veth peer") == true)
        let rateAlone = cniError { _ = try plugin.add(try pluginRequest(bandwidthConfig(#","egressRate":1000"#))) }
        #expect(rateAlone?.code == 7 && rateAlone?.msg.contains("egressRate and egressBurst go together") == true)
        node.namespaces[containerPath]!.links.removeAll { $0.name == "eth0" }
        node.addLink(Link(index: 0, name: "eth0", kind: "macvlan"), in: containerPath)
        let notVeth = cniError { _ = try plugin.add(try pluginRequest(bandwidthConfig(bothDirections))) }
        #expect(notVeth?.code == 4 && notVeth?.msg.contains("has no veth peer") == true)
        #expect(node.mutations == 0)
    }

    /// DEL removes the ifb (the host end's qdiscs go with the veth); DEL again changes nothing.
    @Test func deleteRemovesTheIFB() throws {
        let node = bandwidthNode()
        let plugin = BandwidthPlugin(host: FakeHost(node: node))
        _ = try plugin.add(try pluginRequest(bandwidthConfig(bothDirections)))
        node.log = []
        try plugin.delete(try pluginRequest(bandwidthConfig(bothDirections), "DEL"))
        #expect(node.mutationLog == ["host dellink \(Self.ifb)"])
        #expect(node.link(Self.ifb) == nil)
        node.log = []
        try plugin.delete(try pluginRequest(bandwidthConfig(bothDirections), "DEL"))
        #expect(node.mutationLog.isEmpty)
    }

    /// CHECK wants the TBFs ADD made, with the same rate, limit and buffer, and the ifb.
    @Test func checkComparesTheTokenBuckets() throws {
        let node = bandwidthNode()
        let plugin = BandwidthPlugin(host: FakeHost(node: node))
        _ = try plugin.add(try pluginRequest(bandwidthConfig(bothDirections)))
        let check = try pluginRequest(bandwidthConfig(bothDirections), "CHECK")
        #expect(cniError { try plugin.check(check) } == nil)
        let ifbIndex = try #require(node.link(Self.ifb)?.index)
        node.namespaces["host"]!.qdiscs[ifbIndex]?[0].rate = 1
        let changed = cniError { try plugin.check(check) }
        #expect(changed?.code == 103 && changed?.msg.hasPrefix("egress: no tbf qdisc with rate 2000000 B/s") == true)
        node.namespaces["host"]!.links.removeAll { $0.name == Self.ifb }
        #expect(cniError { try plugin.check(check) }?.msg == "egress: ifb \(Self.ifb) is missing")
    }
}
