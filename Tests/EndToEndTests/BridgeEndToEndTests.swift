import JSON
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The bridge plugin exec'd as a runtime does, in a 'host' namespace the test makes, whose
/// uplink `up0` leads to a 'lan' namespace (192.0.2.1) standing in for the outside world.
@Suite struct BridgeEndToEndTests {
    struct Layout {
        let bed: Testbed
        let host: String
        let lan: String
        let store: TemporaryDirectory
    }

    func layout(_ bed: Testbed) throws -> Layout {
        let host = try bed.namespace("h")
        let lan = try bed.namespace("lan")
        try bed.ip(host, "link", "add", "up0", "type", "veth", "peer", "name", "up0p", "netns", lan)
        try bed.ip(host, "addr", "add", "192.0.2.2/24", "dev", "up0")
        try bed.ip(host, "link", "set", "up0", "up")
        try bed.ip(lan, "addr", "add", "192.0.2.1/24", "dev", "up0p")
        try bed.ip(lan, "link", "set", "up0p", "up")
        try bed.ip(host, "route", "add", "default", "via", "192.0.2.1")
        return Layout(bed: bed, host: host, lan: lan, store: try TemporaryDirectory())
    }

    static func config(
        _ l: Layout, version: String = "1.1.0", extra: String = "",
        ranges: String = #"[[{"subnet":"10.33.0.0/24"}]]"#
    ) -> String {
        #"{"cniVersion":"\#(version)","name":"brnet","type":"bridge","bridge":"cni0"\#(extra),"ipam":{"type":"host-local","dataDir":"\#(l.store.path)","ranges":\#(ranges)}}"#
    }

    func add(_ l: Layout, _ suffix: String, _ config: String, env: [String: String] = [:]) throws -> (
        String, PluginOutcome
    ) {
        let ns = try l.bed.namespace(suffix)
        return (
            ns,
            try l.bed.plugin(
                "bridge", "ADD", config: config, host: l.host, containerID: suffix, netns: l.bed.path(ns),
                environment: env)
        )
    }

    func del(_ l: Layout, _ suffix: String, _ config: String, netns: String?) throws -> PluginOutcome {
        try l.bed.plugin("bridge", "DEL", config: config, host: l.host, containerID: suffix, netns: netns)
    }

    func sysctl(_ bed: Testbed, _ ns: String, _ key: String) throws -> String {
        try Testbed.run(["/usr/sbin/ip", "netns", "exec", ns, "/bin/cat", "/proc/sys/" + key]).trimmingNewline
    }

    func ruleset(_ ns: String) throws -> String {
        try Testbed.run(["/usr/sbin/ip", "netns", "exec", ns, "/usr/sbin/nft", "list", "ruleset"])
    }

    @Test func containersReachEachOtherTheGatewayAndTheOutside() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        defer { l.store.remove() }
        let config = Self.config(l, extra: #","isDefaultGateway":true,"ipMasq":true"#)
        let (c1, a1) = try add(l, "c1", config)
        let (c2, a2) = try add(l, "c2", config)
        #expect(a1.status == 0 && a2.status == 0, "\(a1.output) \(a2.output)")
        let interfaces = try #require(a1.json?["interfaces"]?.arrayValue)
        #expect(interfaces.count == 3)
        #expect(interfaces[0]["name"] == "cni0" && interfaces[0]["sandbox"] == nil)
        #expect(interfaces[1]["name"]?.stringValue?.hasPrefix("veth") == true)
        #expect(interfaces[2]["name"] == "eth0" && interfaces[2]["sandbox"]?.stringValue == bed.path(c1))
        #expect(a1.json?["ips"] == [["interface": 2, "address": "10.33.0.2/24", "gateway": "10.33.0.1"]])
        #expect(a1.json?["routes"] == [["dst": "0.0.0.0/0", "gw": "10.33.0.1"]])
        // The gateway address is on the bridge, forwarding is on, the host veth is a port.
        let bridge = try #require(try bed.ipJSON(l.host, "addr", "show", "cni0").arrayValue?.first)
        #expect(
            bridge["addr_info"]?.arrayValue?.contains { $0["local"] == "10.33.0.1" && $0["prefixlen"] == 24 } == true)
        #expect(try sysctl(bed, l.host, "net/ipv4/ip_forward") == "1")
        let hostVeth = try #require(interfaces[1]["name"]?.stringValue)
        let port = try bed.ipJSON(l.host, "link", "show", hostVeth).arrayValue?.first
        #expect(port?["master"] == "cni0")
        // Both ends are up when ADD returns: the port forwards at once (no STP), nothing to wait for.
        #expect(port?["operstate"] == "UP")
        #expect(try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first?["operstate"] == "UP")
        #expect(try bed.ping(from: c1, "10.33.0.3"))
        #expect(try bed.ping(from: c2, "10.33.0.1"))
        // Out through the masquerade: the lan has no route back to 10.33.0.0/24.
        #expect(try bed.ping(from: c1, "192.0.2.1"))
        // Upstream's default backend, iptables, in the reference's own chain and comment format.
        let saved = try Testbed.run(["/usr/sbin/ip", "netns", "exec", l.host, "/usr/sbin/iptables-save", "-t", "nat"])
        #expect(
            saved.contains(
                #"-A POSTROUTING -s 10.33.0.2/32 -m comment --comment "name: \"brnet\" id: \"c1\"" -j CNI-"#),
            "\(saved)")
        // The bridge keeps its own MAC as ports come and go.
        #expect(try bed.ipJSON(l.host, "link", "show", "cni0").arrayValue?.first?["address"] == interfaces[0]["mac"])

        #expect(try del(l, "c1", config, netns: bed.path(c1)).status == 0)
        #expect(!(try ruleset(l.host)).contains("10.33.0.2"))
        #expect(try bed.linkNames(c1) == ["lo"])
        // DEL after the netns is gone still removes the masquerade (the reference leaks it).
        try bed.deleteNamespace(c2)
        #expect(try del(l, "c2", config, netns: "/run/netns/\(c2)").status == 0)
        #expect(!(try ruleset(l.host)).contains("10.33.0.3"))
        #expect(try del(l, "c2", config, netns: nil).status == 0)
        #expect(l.store.files("brnet") == ["last_reserved_ip.0", "lock"])
    }

    /// CNI_IFNAME already taken in the container: code 4 naming it, before anything is made
    /// (no bridge, no veth, no address reserved), and that interface left as it was.
    @Test func anExistingInterfaceIsRefusedBeforeAnythingIsMade() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        defer { l.store.remove() }
        let ns = try bed.namespace("c1")
        try bed.ip(ns, "link", "add", "eth0", "type", "veth", "peer", "name", "other")
        let add = try bed.plugin(
            "bridge", "ADD", config: Self.config(l), host: l.host, containerID: "c1", netns: bed.path(ns))
        #expect(add.status == 1 && add.json?["code"] == 4, "\(add.output)")
        #expect(add.json?["msg"]?.stringValue?.contains("\"eth0\" already exists") == true, "\(add.output)")
        #expect(try bed.ipJSON(ns, "link", "show", "eth0").arrayValue?.first?["linkinfo"]?["info_kind"] == "veth")
        #expect(Set(try bed.linkNames(ns)) == ["lo", "eth0", "other"])
        #expect(Set(try bed.linkNames(l.host)) == ["lo", "up0"], "nothing made in the host")
        #expect(l.store.files("brnet").filter { $0.contains(".") }.isEmpty, "no address reserved")
    }

    @Test func iptablesBackendAndDelWithoutNetns() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        defer { l.store.remove() }
        let config = Self.config(l, extra: #","isGateway":true,"ipMasq":true,"ipMasqBackend":"iptables""#)
        let (c1, a1) = try add(l, "c1", config)
        #expect(a1.status == 0, "\(a1.output)")
        try bed.ip(c1, "route", "add", "default", "via", "10.33.0.1")
        #expect(try bed.ping(from: c1, "192.0.2.1"))
        let saved = try Testbed.run(["/usr/sbin/ip", "netns", "exec", l.host, "/usr/sbin/iptables-save", "-t", "nat"])
        #expect(
            saved.contains(
                #"-A POSTROUTING -s 10.33.0.2/32 -m comment --comment "name: \"brnet\" id: \"c1\"" -j CNI-"#),
            "\(saved)")
        #expect(saved.contains(#"! -d 224.0.0.0/4 -m comment --comment "name: \"brnet\" id: \"c1\"" -j MASQUERADE"#))
        #expect(try del(l, "c1", config, netns: nil).status == 0)
        let after = try Testbed.run(["/usr/sbin/ip", "netns", "exec", l.host, "/usr/sbin/iptables-save", "-t", "nat"])
        #expect(!after.contains("CNI-"), "\(after)")
    }

    @Test func iptablesBackendDualStack() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        defer { l.store.remove() }
        let config = Self.config(
            l, extra: #","isGateway":true,"ipMasq":true,"ipMasqBackend":"iptables""#,
            ranges: #"[[{"subnet":"10.36.0.0/24"}],[{"subnet":"fd36::/64"}]]"#)
        let (c1, a1) = try add(l, "c1", config)
        #expect(a1.status == 0, "\(a1.output)")
        let v6 = try Testbed.run(["/usr/sbin/ip", "netns", "exec", l.host, "/usr/sbin/ip6tables-save", "-t", "nat"])
        #expect(
            v6.contains(#"-A POSTROUTING -s fd36::2/128 -m comment --comment "name: \"brnet\" id: \"c1\"" -j CNI-"#),
            "\(v6)")
        #expect(v6.contains(#"! -d ff00::/8 -m comment --comment "name: \"brnet\" id: \"c1\"" -j MASQUERADE"#))
        #expect(try del(l, "c1", config, netns: bed.path(c1)).status == 0)
        let after = try Testbed.run(["/usr/sbin/ip", "netns", "exec", l.host, "/usr/sbin/ip6tables-save", "-t", "nat"])
        #expect(!after.contains("SCNI-"), "\(after)")
    }

    @Test func hairpinIsolationAndPromiscuousFlags() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        defer { l.store.remove() }
        let (_, a1) = try add(l, "c1", Self.config(l, extra: #","hairpinMode":true,"portIsolation":true"#))
        #expect(a1.status == 0, "\(a1.output)")
        let port = try #require(a1.json?["interfaces"]?.arrayValue?[1]["name"]?.stringValue)
        let info = try bed.ipJSON(l.host, "link", "show", port).arrayValue?.first?["linkinfo"]?["info_slave_data"]
        #expect(info?["hairpin"] == true)
        #expect(info?["isolated"] == true)
        let (_, both) = try add(l, "c2", Self.config(l, extra: #","hairpinMode":true,"promiscMode":true"#))
        #expect(both.json?["msg"] == "cannot set hairpin mode and promiscuous mode at the same time")
        let (_, promisc) = try add(l, "c3", Self.config(l, extra: #","promiscMode":true"#))
        #expect(promisc.status == 0)
        #expect(
            try bed.ipJSON(l.host, "link", "show", "cni0").arrayValue?.first?["flags"]?.arrayValue?.contains("PROMISC")
                == true)
    }

    @Test func forceAddressDisableContainerInterfaceAndDAD() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        defer { l.store.remove() }
        // The bridge already carries an address of another subnet: refused unless forceAddress.
        try bed.ip(l.host, "link", "add", "cni0", "type", "bridge")
        try bed.ip(l.host, "addr", "add", "10.99.0.1/24", "dev", "cni0")
        let (c1, refused) = try add(l, "c1", Self.config(l, extra: #","isGateway":true"#))
        #expect(refused.errorCode == 7, "\(refused.output)")
        #expect(refused.json?["msg"]?.stringValue?.contains("already has address 10.99.0.1/24") == true)
        #expect(try bed.linkNames(c1) == ["lo"])
        let (_, forced) = try add(l, "c2", Self.config(l, extra: #","isGateway":true,"forceAddress":true"#))
        #expect(forced.status == 0, "\(forced.output)")
        let bridgeAddresses =
            try bed.ipJSON(l.host, "addr", "show", "cni0").arrayValue?.first?["addr_info"]?.arrayValue?.compactMap {
                $0["local"]?.stringValue
            } ?? []
        #expect(bridgeAddresses.contains("10.33.0.1") && !bridgeAddresses.contains("10.99.0.1"))
        // disableContainerInterface: configured but left down.
        let (c3, down) = try add(l, "c3", Self.config(l, extra: #","disableContainerInterface":true"#))
        #expect(down.status == 0, "\(down.output)")
        let link = try bed.ipJSON(c3, "addr", "show", "eth0").arrayValue?.first
        #expect(link?["flags"]?.arrayValue?.contains("UP") == false)
        #expect(link?["addr_info"]?.arrayValue?.contains { $0["local"] == "10.33.0.4" } == true)
        // enabledad: IPv6 addresses go through duplicate address detection (tentative at first);
        // without it they are usable at once.
        let v6 = #"[[{"subnet":"fd35::/64"}]]"#
        let (c4, dad) = try add(
            l, "c4",
            Self.config(l, extra: #","enabledad":true"#, ranges: v6).replacingFirst(
                #""name":"brnet""#, with: #""name":"brnet6""#))
        let (c5, nodad) = try add(
            l, "c5", Self.config(l, ranges: v6).replacingFirst(#""name":"brnet""#, with: #""name":"brnet6""#))
        #expect(dad.status == 0 && nodad.status == 0, "\(dad.output) \(nodad.output)")
        func flags(_ ns: String) throws -> [String] {
            let info = try bed.ipJSON(ns, "-6", "addr", "show", "eth0", "scope", "global").arrayValue?.first?[
                "addr_info"]?.arrayValue?.first
            return ["tentative", "nodad"].filter { info?[$0] == true }
        }
        #expect(try flags(c4) == ["tentative"])
        #expect(try flags(c5) == ["nodad"])
    }

    @Test func spoofedSourceMACsAreDropped() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        defer { l.store.remove() }
        let config = Self.config(l, extra: #","isGateway":true,"macspoofchk":true"#)
        let (c1, a1) = try add(l, "c1", config)
        #expect(a1.status == 0, "\(a1.output)")
        #expect(try bed.ping(from: c1, "10.33.0.1"))
        let real = try #require(a1.json?["interfaces"]?.arrayValue?[2]["mac"]?.stringValue)
        // The reference's spoof-check chains (pkg/link/spoofcheck.go).
        #expect(try ruleset(l.host).contains("ether saddr \(real) return comment \"macspoofchk-c1-eth0\""))
        #expect(try ruleset(l.host).contains("drop comment \"macspoofchk-c1-eth0\""))
        try bed.ip(c1, "neigh", "flush", "all")
        try bed.ip(c1, "link", "set", "eth0", "address", "02:66:66:66:66:66")
        #expect(try !bed.ping(from: c1, "10.33.0.1"))
        try bed.ip(c1, "link", "set", "eth0", "address", real)
        #expect(try bed.ping(from: c1, "10.33.0.1"))
        #expect(try del(l, "c1", config, netns: bed.path(c1)).status == 0)
        #expect(!(try ruleset(l.host)).contains("cni-br-iface-c1-eth0"))
    }

    @Test func dualStackWithGateways() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        defer { l.store.remove() }
        let config = Self.config(
            l, extra: #","isDefaultGateway":true,"ipMasq":true"#,
            ranges: #"[[{"subnet":"10.34.0.0/24"}],[{"subnet":"fd34::/64"}]]"#)
        let (c1, a1) = try add(l, "c1", config)
        let (_, a2) = try add(l, "c2", config)
        #expect(a1.status == 0 && a2.status == 0, "\(a1.output) \(a2.output)")
        #expect(a1.json?["ips"]?.arrayValue?.count == 2)
        #expect(try bed.exec(c1, "ping", "-6", "-c", "1", "-W", "2", "fd34::3") == 0)
        #expect(try bed.exec(c1, "ping", "-6", "-c", "1", "-W", "2", "fd34::1") == 0)
        #expect(try sysctl(bed, l.host, "net/ipv6/conf/all/forwarding") == "1")
        #expect(try bed.ipJSON(c1, "-6", "route", "show", "default").arrayValue?.first?["gateway"] == "fd34::1")
        // Both families are masqueraded, each outside its own subnet and multicast range.
        var rules = ""
        for tool in ["iptables-save", "ip6tables-save"] {
            rules += try Testbed.run(["/usr/sbin/ip", "netns", "exec", l.host, "/usr/sbin/\(tool)", "-t", "nat"])
        }
        #expect(
            rules.contains(#"-A CNI-"#)
                && rules.contains(#"-d 10.34.0.0/24 -m comment --comment "name: \"brnet\" id: \"c1\"" -j ACCEPT"#),
            "\(rules)")
        #expect(
            rules.contains(#"-d fd34::/64 -m comment --comment "name: \"brnet\" id: \"c1\"" -j ACCEPT"#), "\(rules)")
        #expect(
            rules.contains(#"! -d ff00::/8 -m comment --comment "name: \"brnet\" id: \"c1\"" -j MASQUERADE"#),
            "\(rules)")
    }

    @Test(arguments: ["0.4.0", "1.1.0"])
    func configVersionsAndCheck(_ version: String) throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        defer { l.store.remove() }
        let config = Self.config(l, version: version, extra: #","isGateway":true"#)
        let (c1, a1) = try add(l, "c1", config)
        #expect(a1.status == 0, "\(a1.output)")
        #expect(a1.json?["ips"]?.arrayValue?.first?["version"] == (version == "0.4.0" ? "4" : nil))
        var object = try #require(try JSONValue.parse(config).objectValue)
        object["prevResult"] = a1.json
        let withPrevious = JSONValue.object(object).serialized()
        let check = try bed.plugin(
            "bridge", "CHECK", config: withPrevious, host: l.host, containerID: "c1", netns: bed.path(c1))
        #expect(check.status == 0, "\(check.output)")
        // A port moved off the bridge is caught.
        let port = try #require(a1.json?["interfaces"]?.arrayValue?[1]["name"]?.stringValue)
        try bed.ip(l.host, "link", "set", port, "nomaster")
        let drifted = try bed.plugin(
            "bridge", "CHECK", config: withPrevious, host: l.host, containerID: "c1", netns: bed.path(c1))
        #expect(drifted.errorCode == 103, "\(drifted.output)")
    }

    @Test(
        .enabled(if: Testbed.binariesHaveTestHooks, "release binaries carry no fault-injection hook"),
        arguments: ["veth", "port", "ipam", "gateway", "address", "up", "route", "masquerade", "spoofcheck"])
    func failureAfterEachStepLeavesNothing(_ step: String) throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        defer { l.store.remove() }
        let config = Self.config(l, extra: #","isDefaultGateway":true,"ipMasq":true,"macspoofchk":true"#)
        let (c1, outcome) = try add(l, "c1", config, env: ["SWIFT_CNI_INJECT_FAILURE": step])
        #expect(outcome.json?["msg"]?.stringValue == "injected failure after step \"\(step)\"", "\(outcome.output)")
        #expect(try bed.linkNames(c1) == ["lo"])
        #expect(
            try bed.linkNames(l.host).sorted() == ["cni0", "lo", "up0"], "a veth is left after a failure at \(step)")
        #expect(l.store.files("brnet").filter { $0.hasPrefix("10.") }.isEmpty)
        #expect(!(try ruleset(l.host)).contains("scni_"), "firewall objects left after a failure at \(step)")
    }

    @Test func parallelAddsShareOneBridge() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        defer { l.store.remove() }
        let config = Self.config(l, extra: #","isGateway":true"#)
        let count = 8
        var names: [String] = []
        for n in 0..<count { names.append(try bed.namespace("p\(n)")) }
        final class Results: @unchecked Sendable { var statuses = [Int32](repeating: -1, count: 8) }
        let results = Results()
        let host = l.host
        let paths = names.map { bed.path($0) }
        ParallelThreads.run(count) { n in
            results.statuses[n] =
                (try? bed.plugin("bridge", "ADD", config: config, host: host, containerID: "p\(n)", netns: paths[n])
                    .status) ?? -2
        }
        #expect(results.statuses == [Int32](repeating: 0, count: count))
        let bridges = try bed.ipJSON(l.host, "link", "show", "type", "bridge").arrayValue ?? []
        #expect(bridges.count == 1)
        let ports = try bed.ipJSON(l.host, "link", "show", "master", "cni0").arrayValue ?? []
        #expect(ports.count == count)
    }

    @Test(.enabled(if: !Testbed.insideVM, "the VM's kernel filters bridge VLANs: BridgeVLANVMTests covers it"))
    func vlanConfigOnThisKernelFailsClearly() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        defer { l.store.remove() }
        let (c1, outcome) = try add(l, "c1", Self.config(l, extra: #","vlan":100"#))
        #expect(outcome.errorCode == 100, "\(outcome.output)")
        #expect(
            outcome.json?["msg"] == #"the kernel does not support bridge VLAN filtering, which "vlan"/"vlanTrunk" need"#
        )
        #expect(try bed.linkNames(c1) == ["lo"])
        let (_, badTrunk) = try add(l, "c2", Self.config(l, extra: #","vlanTrunk":[{"minID":10,"maxID":5}]"#))
        #expect(badTrunk.errorCode == 7)
    }

    @Test func gcRemovesStaleRulesAndStatusChecksTheBackend() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        defer { l.store.remove() }
        let config = Self.config(l, extra: #","isGateway":true,"ipMasq":true,"macspoofchk":true"#)
        for c in ["keep", "gone"] { #expect(try add(l, c, config).1.status == 0) }
        let gc = config.replacingFirst(
            #""type":"bridge","#,
            with: #""type":"bridge","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}],"#)
        let outcome = try bed.plugin("bridge", "GC", config: gc, host: l.host, containerID: "", netns: nil, ifName: "")
        #expect(outcome.status == 0, "\(outcome.output)")
        let rules = try ruleset(l.host)
        #expect(rules.contains("10.33.0.2") && !rules.contains("10.33.0.3"), "\(rules)")
        #expect(l.store.files("brnet").filter { $0.hasPrefix("10.") } == ["10.33.0.2"])

        #expect(
            try bed.plugin("bridge", "STATUS", config: config, host: l.host, containerID: "", netns: nil, ifName: "")
                .status == 0)
        // Without CAP_NET_ADMIN (dropped from the bounding set, so root's exec does not get it)
        // the kernel refuses nf_tables requests (EPERM): STATUS says 50.
        let status = try ChildProcess.run(
            "/usr/sbin/ip",
            arguments: [
                "netns", "exec", l.host, "/usr/bin/setpriv", "--bounding-set", "-net_admin",
                "\(Testbed.binDirectory)/bridge",
            ],
            environment: [
                "CNI_COMMAND=STATUS", "CNI_PATH=\(Testbed.binDirectory)", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            ],
            input: Array(
                config.replacingFirst(#""ipMasq":true"#, with: #""ipMasq":true,"ipMasqBackend":"nftables""#).utf8))
        let reply = try JSONValue.parse(status.standardOutput)
        #expect(reply["code"] == 50, "\(reply.serialized())")
        #expect(reply["msg"] == "the nftables firewall backend is not usable")
    }
}

extension String {
    var trimmingNewline: String {
        var text = self
        while text.last == "\n" { text.removeLast() }
        return text
    }
}
