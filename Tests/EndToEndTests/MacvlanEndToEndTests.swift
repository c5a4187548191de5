import JSON
import Testing

/// macvlan + static IPAM, exec'd in namespaces the test makes; the uplink is a veth in a
/// host namespace of the test's own.
@Suite struct MacvlanEndToEndTests {
    func config(_ address: String?, version: String = "1.1.0", master: String? = "up0", extra: String = "") -> String {
        let masterKey = master.map { #""master":"\#($0)","# } ?? ""
        let ipam =
            address.map {
                #","ipam":{"type":"static","addresses":[{"address":"\#($0)","gateway":"10.77.0.1"}],"routes":[{"dst":"0.0.0.0/0"}]}"#
            } ?? ""
        return #"{"cniVersion":"\#(version)","name":"mvnet",\#(masterKey)"type":"macvlan"\#(extra)\#(ipam)}"#
    }

    @Test func twoContainersReachEachOtherThenDelIsIdempotent() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        let c1 = try bed.namespace("c1")
        let c2 = try bed.namespace("c2")

        let add1 = try bed.plugin(
            "macvlan", "ADD", config: config("10.77.0.11/24"), host: host, containerID: "c1", netns: bed.path(c1))
        #expect(add1.status == 0, "\(add1.output)")
        let add2 = try bed.plugin(
            "macvlan", "ADD", config: config("10.77.0.12/24"), host: host, containerID: "c2", netns: bed.path(c2))
        #expect(add2.status == 0, "\(add2.output)")

        // The result names the container interface with its sandbox and MAC, and the address on it.
        let result = try #require(add1.json)
        let interface = try #require(result["interfaces"]?.arrayValue?.first)
        #expect(interface["name"] == "eth0")
        #expect(interface["sandbox"]?.stringValue == bed.path(c1))
        let link = try #require(try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first)
        #expect(interface["mac"] == link["address"])
        #expect(link["linkinfo"]?["info_kind"] == "macvlan")
        #expect(link["linkinfo"]?["info_data"]?["mode"] == "bridge")
        #expect(result["ips"] == [["interface": 0, "address": "10.77.0.11/24", "gateway": "10.77.0.1"]])
        let routes = try bed.ipJSON(c1, "route", "show", "default")
        #expect(routes.arrayValue?.first?["gateway"] == "10.77.0.1")

        #expect(try bed.ping(from: c1, "10.77.0.12"))
        #expect(try bed.ping(from: c2, "10.77.0.11"))

        let del = try bed.plugin(
            "macvlan", "DEL", config: config("10.77.0.11/24"), host: host, containerID: "c1", netns: bed.path(c1))
        #expect(del.status == 0 && del.output.isEmpty, "\(del.output)")
        #expect(try bed.linkNames(c1) == ["lo"])
        let again = try bed.plugin(
            "macvlan", "DEL", config: config("10.77.0.11/24"), host: host, containerID: "c1", netns: bed.path(c1))
        #expect(again.status == 0, "\(again.output)")

        try bed.deleteNamespace(c2)
        let gone = try bed.plugin(
            "macvlan", "DEL", config: config("10.77.0.12/24"), host: host, containerID: "c2", netns: "/run/netns/\(c2)")
        #expect(gone.status == 0, "\(gone.output)")
        let noNetns = try bed.plugin(
            "macvlan", "DEL", config: config("10.77.0.12/24"), host: host, containerID: "c2", netns: nil)
        #expect(noNetns.status == 0, "\(noNetns.output)")
        // The master is untouched.
        #expect(try bed.linkNames(host).contains("up0"))
    }

    @Test func legacyConfigPrintsIp4() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: config("10.77.0.21/24", version: "0.2.0"), host: host, netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)")
        #expect(add.json?["cniVersion"] == "0.2.0")
        #expect(add.json?["ip4"]?["ip"] == "10.77.0.21/24")
        #expect(add.json?["interfaces"] == nil)
    }

    @Test func l2OnlyWithoutIPAM() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: config(nil, extra: #","ipam":{}"#), host: host, netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)")
        #expect(add.json?["ips"] == nil)
        let link = try #require(try bed.ipJSON(c1, "addr", "show", "eth0").arrayValue?.first)
        #expect(link["flags"]?.arrayValue?.contains("UP") == true)
        #expect(link["addr_info"]?.arrayValue?.contains { $0["family"] == "inet" } == false)
    }

    @Test func existingInterfaceIsAnErrorAndLeftAlone() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        let c1 = try bed.namespace("c1")
        try bed.ip(c1, "link", "add", "eth0", "type", "veth", "peer", "name", "other")
        let add = try bed.plugin("macvlan", "ADD", config: config("10.77.0.31/24"), host: host, netns: bed.path(c1))
        #expect(add.status == 1)
        #expect(add.json?["msg"]?.stringValue?.contains("\"eth0\" already exists") == true, "\(add.output)")
        #expect(try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first?["linkinfo"]?["info_kind"] == "veth")
        #expect(Set(try bed.linkNames(c1)) == ["lo", "eth0", "other"])
    }

    /// The link is created as CNI_IFNAME directly in the container: that name taken in the
    /// host namespace, and by the links of other containers on the same master, is no conflict
    /// (the reference renames from a random name for old kernels that checked the creator's
    /// namespace).
    @Test func theNameMayBeTakenInTheHostAndInOtherContainers() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        try bed.ip(host, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer")
        let containers = [try bed.namespace("c1"), try bed.namespace("c2")]
        for (offset, container) in containers.enumerated() {
            let add = try bed.plugin(
                "macvlan", "ADD", config: config("10.77.0.\(61 + offset)/24"), host: host,
                containerID: "c\(offset + 1)", netns: bed.path(container))
            #expect(add.status == 0, "\(add.output)")
            let link = try bed.ipJSON(container, "-d", "link", "show", "eth0").arrayValue?.first
            #expect(link?["linkinfo"]?["info_kind"] == "macvlan")
        }
        #expect(
            try bed.ipJSON(host, "-d", "link", "show", "eth0").arrayValue?.first?["linkinfo"]?["info_kind"] == "veth")
        for (offset, container) in containers.enumerated() {
            let del = try bed.plugin(
                "macvlan", "DEL", config: config("10.77.0.\(61 + offset)/24"), host: host,
                containerID: "c\(offset + 1)", netns: bed.path(container))
            #expect(del.status == 0, "\(del.output)")
            #expect(try bed.linkNames(container) == ["lo"])
        }
        #expect(Set(try bed.linkNames(host)) == ["lo", "up0", "up0p", "eth0", "eth0peer"])
    }

    @Test func missingMasterNamesItAndTheNamespace() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: config("10.77.0.41/24", master: "nosuch0"), host: host, netns: bed.path(c1))
        #expect(add.status == 1 && add.errorCode == 7)
        #expect(add.json?["msg"]?.stringValue == "master \"nosuch0\" not found in the host netns")
        #expect(try bed.linkNames(c1) == ["lo"])
    }

    @Test func failureAfterTheLinkExistsRollsItBack() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        let c1 = try bed.namespace("c1")
        // A route through a gateway outside every connected subnet fails in the kernel
        // (ENETUNREACH) after the link was created, addressed and brought up.
        let broken =
            #"{"cniVersion":"1.1.0","name":"mvnet","type":"macvlan","master":"up0","ipam":{"type":"static","addresses":[{"address":"10.77.0.51/24"}],"routes":[{"dst":"10.99.0.0/16","gw":"192.168.254.1"}]}}"#
        let add = try bed.plugin("macvlan", "ADD", config: broken, host: host, netns: bed.path(c1))
        #expect(add.status == 1)
        #expect(add.errorCode == 100, "\(add.output)")
        #expect(add.json?["msg"]?.stringValue?.contains("add route 10.99.0.0/16 via 192.168.254.1") == true)
        #expect(try bed.linkNames(c1) == ["lo"])
        #expect(try bed.linkNames(host).sorted() == ["lo", "up0", "up0p"])
    }

    @Test func masterDefaultsToTheDefaultRouteInterface() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink(defaultRoute: true)
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: config("10.77.0.61/24", master: nil), host: host, netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)")
        let link = try #require(try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first)
        let uplink = try #require(try bed.ipJSON(host, "link", "show", "up0").arrayValue?.first)
        #expect(link["link_index"] == uplink["ifindex"])

        let noRoute = try bed.hostWithUplink("bare")
        let c2 = try bed.namespace("c2")
        let failed = try bed.plugin(
            "macvlan", "ADD", config: config("10.77.0.62/24", master: nil), host: noRoute, netns: bed.path(c2))
        #expect(failed.status == 1 && failed.errorCode == 7)
        #expect(failed.json?["msg"]?.stringValue?.contains("no default route") == true)
    }
}
