import JSON
import TestSupport
import Testing

/// Bridge VLANs need CONFIG_BRIDGE_VLAN_FILTERING, which this host's kernel lacks: these run
/// inside the VM runner (started by `VMSuiteTests`).
@Suite(.enabled(if: Testbed.insideVM, "runs inside integration/vm-run.sh; started by VMSuiteTests"))
struct BridgeVLANVMTests {
    static func config(_ store: TemporaryDirectory, _ extra: String) -> String {
        #"{"cniVersion":"1.1.0","name":"brvlan","type":"bridge","bridge":"br0"\#(extra),"ipam":{"type":"host-local","dataDir":"\#(store.path)","ranges":[[{"subnet":"10.35.0.0/24"}]]}}"#
    }

    /// `bridge -j vlan show dev PORT` as (vid, pvid, untagged) triples.
    func vlans(_ bed: Testbed, _ ns: String, _ port: String) throws -> [(Int, Bool, Bool)] {
        let text = try Testbed.run([
            "/usr/sbin/ip", "netns", "exec", ns, "/usr/sbin/bridge", "-j", "vlan", "show", "dev", port,
        ])
        let entries = try JSONValue.parse(text).arrayValue?.first?["vlans"]?.arrayValue ?? []
        var result: [(Int, Bool, Bool)] = []
        for entry in entries {
            let flags = entry["flags"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let first = entry["vlan"]?.intValue ?? 0
            let last = entry["vlanEnd"]?.intValue ?? first
            for vid in first...last { result.append((vid, flags.contains("PVID"), flags.contains("Egress Untagged"))) }
        }
        return result
    }

    @Test func accessVLANTrunkAndDefaultVLAN() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let store = try TemporaryDirectory()
        defer { store.remove() }
        let host = try bed.namespace("h")
        let c1 = try bed.namespace("c1")
        let c2 = try bed.namespace("c2")
        let c3 = try bed.namespace("c3")
        let access = Self.config(store, #","vlan":100,"preserveDefaultVlan":true"#)
        let a1 = try bed.plugin("bridge", "ADD", config: access, host: host, containerID: "c1", netns: bed.path(c1))
        let a2 = try bed.plugin("bridge", "ADD", config: access, host: host, containerID: "c2", netns: bed.path(c2))
        // No preserveDefaultVlan: upstream's default since v1.8 is false, so VLAN 1 goes.
        let trunk = Self.config(store, #","vlan":200,"vlanTrunk":[{"id":300},{"minID":310,"maxID":312}]"#)
        let a3 = try bed.plugin("bridge", "ADD", config: trunk, host: host, containerID: "c3", netns: bed.path(c3))
        #expect(a1.status == 0 && a2.status == 0 && a3.status == 0, "\(a1.output) \(a2.output) \(a3.output)")
        let port1 = try #require(a1.json?["interfaces"]?.arrayValue?[1]["name"]?.stringValue)
        let port3 = try #require(a3.json?["interfaces"]?.arrayValue?[1]["name"]?.stringValue)
        let v1 = try vlans(bed, host, port1)
        #expect(v1.contains { $0 == (100, true, true) }, "\(v1)")
        #expect(v1.contains { $0.0 == 1 }, "the default VLAN 1 stays when preserveDefaultVlan is true")
        let v3 = try vlans(bed, host, port3)
        #expect(v3.contains { $0 == (200, true, true) }, "\(v3)")
        for vid in [300, 310, 311, 312] {
            #expect(v3.contains { $0 == (vid, false, false) }, "trunk VLAN \(vid): \(v3)")
        }
        #expect(!v3.contains { $0.0 == 1 })
        #expect(
            try bed.ipJSON(host, "link", "show", "br0").arrayValue?.first?["linkinfo"]?["info_data"]?["vlan_filtering"]
                == 1)
        // Same VLAN: reachable; another access VLAN (200) in the same subnet: not.
        #expect(try bed.ping(from: c1, "10.35.0.3"))
        #expect(try !bed.ping(from: c1, "10.35.0.4"))
    }

    @Test func gatewayOnAnAccessVLAN() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let store = try TemporaryDirectory()
        defer { store.remove() }
        let host = try bed.namespace("h")
        let c1 = try bed.namespace("c1")
        let config = Self.config(store, #","vlan":100,"isDefaultGateway":true"#)
        let add = try bed.plugin("bridge", "ADD", config: config, host: host, containerID: "c1", netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)")
        let gateway = try #require(try bed.ipJSON(host, "addr", "show", "br0.100").arrayValue?.first)
        #expect(gateway["addr_info"]?.arrayValue?.contains { $0["local"] == "10.35.0.1" } == true)
        #expect(try vlans(bed, host, "br0").contains { $0.0 == 100 })
        #expect(try bed.ping(from: c1, "10.35.0.1"))

        // A second container on VLAN 100 shares the gateway link; it stays until the last DEL
        // (the reference never removes it), also when that container's netns is already gone.
        let c2 = try bed.namespace("c2")
        let add2 = try bed.plugin("bridge", "ADD", config: config, host: host, containerID: "c2", netns: bed.path(c2))
        #expect(add2.status == 0)
        #expect(
            try bed.plugin("bridge", "DEL", config: config, host: host, containerID: "c1", netns: bed.path(c1)).status
                == 0)
        #expect(try bed.linkNames(host).contains("br0.100"))
        #expect(try bed.ping(from: c2, "10.35.0.1"))
        try bed.deleteNamespace(c2)
        // As a runtime sends it from 0.4.0: the DEL carries the ADD's result.
        var withPrevious = try #require(try JSONValue.parse(config).objectValue)
        withPrevious["prevResult"] = add2.json
        #expect(
            try bed.plugin(
                "bridge", "DEL", config: JSONValue.object(withPrevious).serialized(), host: host, containerID: "c2",
                netns: bed.path(c2)
            ).status == 0)
        #expect(!(try bed.linkNames(host)).contains("br0.100"))
        #expect(!(try vlans(bed, host, "br0")).contains { $0.0 == 100 })
    }
}
