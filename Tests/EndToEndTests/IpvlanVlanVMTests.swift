import JSON
import TestSupport
import Testing

/// ipvlan and vlan plugins end to end, and macvlan stacked on VLANs. They need the ipvlan and
/// 8021q modules, so they run inside the VM runner (started by `VMSuiteTests`).
@Suite(.enabled(if: Testbed.insideVM, "runs inside integration/vm-run.sh; started by VMSuiteTests"))
struct IpvlanVlanVMTests {
    static func ipvlan(
        _ address: String?, mode: String = "l2", flag: String? = nil, master: String? = "up0",
        version: String = "1.1.0", extra: String = ""
    ) -> String {
        let flagKey = flag.map { #","flag":"\#($0)""# } ?? ""
        let masterKey = master.map { #","master":"\#($0)""# } ?? ""
        let ipam =
            address.map {
                #","ipam":{"type":"static","addresses":[{"address":"\#($0)"}],"routes":[{"dst":"0.0.0.0/0"}]}"#
            } ?? ""
        return
            #"{"cniVersion":"\#(version)","name":"ivnet","type":"ipvlan","mode":"\#(mode)"\#(flagKey)\#(masterKey)\#(extra)\#(ipam)}"#
    }

    static func vlan(_ id: Int, _ address: String?, master: String = "up0") -> String {
        let ipam = address.map { #","ipam":{"type":"static","addresses":[{"address":"\#($0)"}]}"# } ?? ""
        return #"{"cniVersion":"1.1.0","name":"vlnet","type":"vlan","master":"\#(master)","vlanId":\#(id)\#(ipam)}"#
    }

    func add(_ bed: Testbed, host: String, _ plugin: String, _ suffix: String, _ config: String) throws -> (
        String, PluginOutcome
    ) {
        let ns = try bed.namespace(suffix)
        return (ns, try bed.plugin(plugin, "ADD", config: config, host: host, containerID: suffix, netns: bed.path(ns)))
    }

    @Test func ipvlanL2ContainersReachEachOther() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        let (c1, a1) = try add(bed, host: host, "ipvlan", "c1", Self.ipvlan("10.60.0.11/24"))
        let (_, a2) = try add(bed, host: host, "ipvlan", "c2", Self.ipvlan("10.60.0.12/24"))
        #expect(a1.status == 0 && a2.status == 0, "\(a1.output) \(a2.output)")
        let link = try #require(try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first)
        #expect(link["linkinfo"]?["info_kind"] == "ipvlan")
        #expect(link["linkinfo"]?["info_data"]?["mode"] == "l2")
        // ipvlan links share the master's MAC.
        let master = try #require(try bed.ipJSON(host, "link", "show", "up0").arrayValue?.first)
        #expect(link["address"] == master["address"])
        #expect(try bed.ping(from: c1, "10.60.0.12"))
        var object = try #require(try JSONValue.parse(Self.ipvlan("10.60.0.11/24")).objectValue)
        object["prevResult"] = a1.json
        let check = try bed.plugin(
            "ipvlan", "CHECK", config: JSONValue.object(object).serialized(), host: host, containerID: "c1",
            netns: bed.path(c1))
        #expect(check.status == 0, "\(check.output)")
        let wrongMode = try bed.plugin(
            "ipvlan", "CHECK",
            config: JSONValue.object(object).serialized().replacingFirst(#""mode":"l2""#, with: #""mode":"l3""#),
            host: host, containerID: "c1", netns: bed.path(c1))
        #expect(wrongMode.errorCode == 103)
        let del = try bed.plugin(
            "ipvlan", "DEL", config: Self.ipvlan("10.60.0.11/24"), host: host, containerID: "c1", netns: bed.path(c1))
        #expect(del.status == 0)
        #expect(try bed.linkNames(c1) == ["lo"])
    }

    @Test(arguments: ["l3", "l3s"])
    func ipvlanRoutedModesReachAcrossSubnets(_ mode: String) throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        // Different subnets, no gateway: the ipvlan master routes between its slaves.
        let routeConfig = { (address: String) in
            #"{"cniVersion":"1.1.0","name":"ivnet","type":"ipvlan","mode":"\#(mode)","master":"up0","ipam":{"type":"static","addresses":[{"address":"\#(address)"}],"routes":[{"dst":"0.0.0.0/0"}]}}"#
        }
        let (c1, a1) = try add(bed, host: host, "ipvlan", "c1", routeConfig("10.61.1.2/24"))
        let (_, a2) = try add(bed, host: host, "ipvlan", "c2", routeConfig("10.61.2.2/24"))
        #expect(a1.status == 0 && a2.status == 0, "\(a1.output) \(a2.output)")
        #expect(
            try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first?["linkinfo"]?["info_data"]?["mode"]?
                .stringValue == mode)
        #expect(try bed.ping(from: c1, "10.61.2.2"))
    }

    @Test(arguments: [("bridge", true), ("private", false), ("vepa", false)])
    func ipvlanFlags(_ flag: String, _ reachable: Bool) throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        let (c1, a1) = try add(bed, host: host, "ipvlan", "c1", Self.ipvlan("10.62.0.11/24", flag: flag))
        let (_, a2) = try add(bed, host: host, "ipvlan", "c2", Self.ipvlan("10.62.0.12/24", flag: flag))
        #expect(a1.status == 0 && a2.status == 0, "\(a1.output) \(a2.output)")
        let data = try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first?["linkinfo"]?["info_data"]
        if flag != "bridge" { #expect(data?[flag] == true, "\(String(describing: data))") }
        #expect(try bed.ping(from: c1, "10.62.0.12") == reachable)
    }

    @Test func ipvlanL2OnlyAndChained() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        let (c1, l2) = try add(bed, host: host, "ipvlan", "c1", Self.ipvlan(nil))
        #expect(l2.status == 0, "\(l2.output)")
        #expect(l2.json?["ips"] == nil)
        #expect(
            try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first?["flags"]?.arrayValue?.contains("UP") == true)
        // Chained: no master and no IPAM; prevResult's single interface is the master and its
        // addresses go onto the ipvlan.
        let previous: JSONValue = [
            "cniVersion": "1.1.0", "interfaces": [["name": "up0"]],
            "ips": [["address": "10.63.0.5/24", "interface": 0]],
        ]
        var object = try #require(try JSONValue.parse(Self.ipvlan(nil, master: nil)).objectValue)
        object["prevResult"] = previous
        let (c2, chained) = try add(bed, host: host, "ipvlan", "c2", JSONValue.object(object).serialized())
        #expect(chained.status == 0, "\(chained.output)")
        #expect(chained.json?["ips"] == [["interface": 0, "address": "10.63.0.5/24"]])
        let addresses = try bed.ipJSON(c2, "addr", "show", "eth0").arrayValue?.first?["addr_info"]?.arrayValue ?? []
        #expect(addresses.contains { $0["local"] == "10.63.0.5" })
        // CHECK of the chained link (the reference fails here with the master omitted).
        object["prevResult"] = chained.json
        let check = try bed.plugin(
            "ipvlan", "CHECK", config: JSONValue.object(object).serialized(), host: host, containerID: "c2",
            netns: bed.path(c2))
        #expect(check.status == 0, "\(check.output)")
    }

    @Test func vlanCarriesTheIdAndIsolatesSegments() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        // The lan side: VLAN 10 and VLAN 20 of the uplink's peer, each in its own namespace,
        // both answering at 10.70.0.1.
        let lan10 = try bed.namespace("lan10")
        let lan20 = try bed.namespace("lan20")
        for (id, lan) in [(10, lan10), (20, lan20)] {
            try bed.ip(host, "link", "add", "link", "up0p", "name", "p\(id)", "type", "vlan", "id", "\(id)")
            try bed.ip(host, "link", "set", "p\(id)", "netns", lan)
            try bed.ip(lan, "addr", "add", "10.70.0.1/24", "dev", "p\(id)")
            try bed.ip(lan, "link", "set", "p\(id)", "up")
        }
        let (c10, a10) = try add(bed, host: host, "vlan", "c10", Self.vlan(10, "10.70.0.10/24"))
        let (c20, a20) = try add(bed, host: host, "vlan", "c20", Self.vlan(20, "10.70.0.20/24"))
        #expect(a10.status == 0 && a20.status == 0, "\(a10.output) \(a20.output)")
        let data = try bed.ipJSON(c10, "link", "show", "eth0").arrayValue?.first?["linkinfo"]?["info_data"]
        #expect(data?["protocol"] == "802.1Q" && data?["id"] == 10)
        #expect(try bed.ping(from: c10, "10.70.0.1"))
        #expect(try bed.ping(from: c20, "10.70.0.1"))
        // Same subnet, different VLANs: no way across.
        #expect(try !bed.ping(from: c10, "10.70.0.20"))
        // The peer that answered c10 is the VLAN 10 one: its neighbour table knows c10 only.
        let neighbours10 =
            try bed.ipJSON(lan10, "neigh", "show").arrayValue?.compactMap { $0["dst"]?.stringValue } ?? []
        #expect(neighbours10.contains("10.70.0.10") && !neighbours10.contains("10.70.0.20"))
        // The kernel allows one link per VLAN id on a master: a second container on VLAN 10
        // of up0 is refused, and says why.
        let (c10b, taken) = try add(bed, host: host, "vlan", "c10b", Self.vlan(10, nil))
        #expect(taken.errorCode == 100, "\(taken.output)")
        #expect(taken.json?["msg"] == #"master "up0" already has a VLAN with id 10"#)
        #expect(try bed.linkNames(c10b) == ["lo"])
        let (_, badID) = try add(bed, host: host, "vlan", "bad", Self.vlan(4095, nil))
        #expect(badID.json?["msg"] == "invalid VLAN ID 4095 (must be between 0 and 4094 inclusive)")
    }

    @Test func vlanL2OnlyAndDelAfterTheMasterIsGone() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let host = try bed.hostWithUplink()
        let (c1, l2) = try add(bed, host: host, "vlan", "c1", Self.vlan(30, nil))
        #expect(l2.status == 0 && l2.json?["ips"] == nil, "\(l2.output)")
        let withHostLocal =
            #"{"cniVersion":"1.1.0","name":"vlnet","type":"vlan","master":"up0","vlanId":31,"ipam":{"type":"host-local","dataDir":"\#(dir.path)","ranges":[[{"subnet":"10.71.0.0/24"}]]}}"#
        let (c2, a2) = try add(bed, host: host, "vlan", "c2", withHostLocal)
        #expect(a2.status == 0, "\(a2.output)")
        try bed.ip(host, "link", "del", "up0")
        // The reference fails here (it reads the master's MTU) and never releases the address.
        let del = try bed.plugin(
            "vlan", "DEL", config: withHostLocal, host: host, containerID: "c2", netns: bed.path(c2))
        #expect(del.status == 0, "\(del.output)")
        #expect(dir.files("vlnet") == ["last_reserved_ip.0", "lock"])
        #expect(
            try bed.plugin(
                "vlan", "DEL", config: Self.vlan(30, nil), host: host, containerID: "c1", netns: bed.path(c1)
            ).status == 0)
        let status = try bed.plugin(
            "vlan", "STATUS", config: Self.vlan(30, nil), host: host, containerID: "", netns: nil, ifName: "")
        #expect(status.errorCode == 50)
    }

    /// Two VLAN sub-interfaces on one uplink, two macvlan containers on each: reachability
    /// within a VLAN, none across.
    @Test func macvlanStackedOnVlans() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        for id in [10, 20] {
            try bed.ip(host, "link", "add", "link", "up0", "name", "up0.\(id)", "type", "vlan", "id", "\(id)")
            try bed.ip(host, "link", "set", "up0.\(id)", "up")
        }
        let lan = try bed.namespace("lan")
        try bed.ip(host, "link", "set", "up0p", "netns", lan)
        try bed.ip(lan, "link", "set", "up0p", "up")
        try bed.ip(lan, "link", "add", "link", "up0p", "name", "p10", "type", "vlan", "id", "10")
        try bed.ip(lan, "addr", "add", "10.80.0.1/24", "dev", "p10")
        try bed.ip(lan, "link", "set", "p10", "up")
        var containers: [String: String] = [:]
        for (name, id, address) in [
            ("a10", 10, "10.80.0.11"), ("b10", 10, "10.80.0.12"), ("a20", 20, "10.80.0.21"), ("b20", 20, "10.80.0.22"),
        ] {
            let config =
                #"{"cniVersion":"1.1.0","name":"stack\#(id)","type":"macvlan","master":"up0.\#(id)","mode":"bridge","ipam":{"type":"static","addresses":[{"address":"\#(address)/24"}]}}"#
            let (ns, outcome) = try add(bed, host: host, "macvlan", name, config)
            #expect(outcome.status == 0, "\(outcome.output)")
            containers[name] = ns
        }
        let a10 = try #require(containers["a10"])
        let a20 = try #require(containers["a20"])
        #expect(try bed.ping(from: a10, "10.80.0.12"))
        #expect(try bed.ping(from: a20, "10.80.0.22"))
        #expect(try bed.ping(from: a10, "10.80.0.1"))
        #expect(try !bed.ping(from: a10, "10.80.0.21"))
        #expect(try !bed.ping(from: a20, "10.80.0.1"))
    }
}
