import JSON
import TestSupport
import Testing

/// macvlan's complete behaviour: modes, MAC and MTU rules, versions, CHECK, STATUS, GC, and
/// rollback of every ADD step. The 'host' is a namespace with uplink veth `up0`; its peer
/// `up0p` sits in a 'lan' namespace at 10.77.0.1 (and fd77::1), standing in for the switch.
@Suite struct MacvlanModesTests {
    struct Layout {
        let bed: Testbed
        let host: String
        let lan: String
    }

    func layout(_ bed: Testbed, hairpinSwitch: Bool = false) throws -> Layout {
        let host = try bed.hostWithUplink()
        let lan = try bed.namespace("lan")
        try bed.ip(host, "link", "set", "up0p", "netns", lan)
        if hairpinSwitch {
            // A bridge that sends frames back out of the port they came in on (what a VEPA needs).
            try bed.ip(lan, "link", "add", "br0", "type", "bridge")
            try bed.ip(lan, "link", "set", "up0p", "master", "br0")
            try bed.ip(lan, "link", "set", "up0p", "type", "bridge_slave", "hairpin", "on")
            try bed.ip(lan, "link", "set", "br0", "up")
            try bed.ip(lan, "addr", "add", "10.77.0.1/24", "dev", "br0")
        } else {
            try bed.ip(lan, "addr", "add", "10.77.0.1/24", "dev", "up0p")
            try bed.ip(lan, "addr", "add", "fd77::1/64", "dev", "up0p", "nodad")
        }
        try bed.ip(lan, "link", "set", "up0p", "up")
        return Layout(bed: bed, host: host, lan: lan)
    }

    static func config(
        _ address: String?, mode: String? = nil, version: String = "1.1.0", extra: String = "",
        ipam: String? = nil
    ) -> String {
        let modeKey = mode.map { #","mode":"\#($0)""# } ?? ""
        let ipamObject = ipam ?? address.map { #"{"type":"static","addresses":[{"address":"\#($0)"}]}"# } ?? "{}"
        return
            #"{"cniVersion":"\#(version)","name":"mvnet","type":"macvlan","master":"up0"\#(modeKey)\#(extra),"ipam":\#(ipamObject)}"#
    }

    func add(_ l: Layout, _ suffix: String, _ config: String, env: [String: String] = [:]) throws -> (
        String, PluginOutcome
    ) {
        let ns = try l.bed.namespace(suffix)
        let outcome = try l.bed.plugin(
            "macvlan", "ADD", config: config, host: l.host, containerID: suffix, netns: l.bed.path(ns), environment: env
        )
        return (ns, outcome)
    }

    @Test func privateModeIsolatesContainersButNotTheLan() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        let (c1, a1) = try add(l, "c1", Self.config("10.77.0.11/24", mode: "private"))
        let (c2, a2) = try add(l, "c2", Self.config("10.77.0.12/24", mode: "private"))
        #expect(a1.status == 0 && a2.status == 0, "\(a1.output) \(a2.output)")
        #expect(
            try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first?["linkinfo"]?["info_data"]?["mode"]
                == "private")
        #expect(try bed.ping(from: c1, "10.77.0.1"))
        #expect(try !bed.ping(from: c1, "10.77.0.12"))
        #expect(try !bed.ping(from: c2, "10.77.0.11"))
    }

    @Test func vepaNeedsAHairpinSwitch() throws {
        for hairpin in [false, true] {
            let bed = try Testbed()
            defer { bed.tearDown() }
            let l = try layout(bed, hairpinSwitch: hairpin)
            let (c1, a1) = try add(l, "c1", Self.config("10.77.0.11/24", mode: "vepa"))
            let (_, a2) = try add(l, "c2", Self.config("10.77.0.12/24", mode: "vepa"))
            #expect(a1.status == 0 && a2.status == 0, "\(a1.output) \(a2.output)")
            #expect(try bed.ping(from: c1, "10.77.0.1"))
            #expect(try bed.ping(from: c1, "10.77.0.12") == hairpin, "vepa with hairpin switch \(hairpin)")
        }
    }

    @Test func bridgeModeSwitchesLocally() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        let (c1, _) = try add(l, "c1", Self.config("10.77.0.11/24", mode: "bridge"))
        let (_, a2) = try add(l, "c2", Self.config("10.77.0.12/24"))
        #expect(a2.status == 0)
        #expect(try bed.ping(from: c1, "10.77.0.12"))
        #expect(try bed.ping(from: c1, "10.77.0.1"))
    }

    @Test func passthruTakesTheWholeMaster() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        let masterMAC = try bed.ipJSON(l.host, "link", "show", "up0").arrayValue?.first?["address"]
        let (c1, a1) = try add(l, "c1", Self.config("10.77.0.11/24", mode: "passthru"))
        #expect(a1.status == 0, "\(a1.output)")
        #expect(try bed.ping(from: c1, "10.77.0.1"))
        // The passthru link carries the master's own MAC: the master's traffic is the container's.
        #expect(try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first?["address"] == masterMAC)
        let (c2, a2) = try add(l, "c2", Self.config("10.77.0.12/24", mode: "passthru"))
        #expect(a2.status == 1 && a2.errorCode == 100, "\(a2.output)")
        #expect(a2.json?["msg"]?.stringValue?.contains("master \"up0\" cannot take a passthru macvlan") == true)
        #expect(try bed.linkNames(c2) == ["lo"])
    }

    @Test func sourceModeIsCreated() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        let (c1, a1) = try add(l, "c1", Self.config(nil, mode: "source"))
        #expect(a1.status == 0, "\(a1.output)")
        #expect(
            try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first?["linkinfo"]?["info_data"]?["mode"] == "source"
        )
    }

    @Test func broadcastQueueLength() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        let (c1, a1) = try add(l, "c1", Self.config(nil, extra: #","bcqueuelen":123"#))
        #expect(a1.status == 0, "\(a1.output)")
        #expect(
            try bed.ipJSON(c1, "link", "show", "eth0").arrayValue?.first?["linkinfo"]?["info_data"]?["bcqueuelen"]
                == 123)
        let (_, negative) = try add(l, "c2", Self.config(nil, extra: #","bcqueuelen":-5"#))
        #expect(negative.json?["msg"] == #""bcqueuelen": -5 is out of range (0 to 4294967295)"#)
    }

    @Test func badModeListsTheValidOnes() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        let (c1, a1) = try add(l, "c1", Self.config(nil, mode: "turbo"))
        #expect(a1.errorCode == 7)
        #expect(a1.json?["msg"] == #"unknown macvlan mode "turbo" (valid: private, vepa, bridge, passthru, source)"#)
        #expect(try bed.linkNames(c1) == ["lo"])
    }

    @Test func macPrecedenceConfigThenArgsThenRuntimeConfig() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        let configMAC = #","mac":"02:00:00:00:00:01""#
        let runtimeMAC = #","runtimeConfig":{"mac":"02:00:00:00:00:03"}"#
        let cases: [(String, [String: String], String)] = [
            (Self.config(nil, extra: configMAC), [:], "02:00:00:00:00:01"),
            (
                Self.config(nil, extra: configMAC), ["CNI_ARGS": "IgnoreUnknown=1;MAC=02:00:00:00:00:02"],
                "02:00:00:00:00:02"
            ),
            (
                Self.config(nil, extra: configMAC + runtimeMAC), ["CNI_ARGS": "MAC=02:00:00:00:00:02"],
                "02:00:00:00:00:03"
            ),
        ]
        for (n, (config, env, expected)) in cases.enumerated() {
            let (ns, outcome) = try add(l, "m\(n)", config, env: env)
            #expect(outcome.status == 0, "\(outcome.output)")
            #expect(try bed.ipJSON(ns, "link", "show", "eth0").arrayValue?.first?["address"]?.stringValue == expected)
            #expect(outcome.json?["interfaces"]?.arrayValue?.first?["mac"]?.stringValue == expected)
        }
        let (_, bad) = try add(l, "bad", Self.config(nil, extra: #","mac":"01:00:5e:00:00:01""#))
        #expect(bad.errorCode == 7, "\(bad.output)")
    }

    @Test func mtuBounds() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        let (ok, fine) = try add(l, "ok", Self.config(nil, extra: #","mtu":1400"#))
        #expect(fine.status == 0)
        #expect(try bed.ipJSON(ok, "link", "show", "eth0").arrayValue?.first?["mtu"] == 1400)
        #expect(fine.json?["interfaces"]?.arrayValue?.first?["mtu"] == 1400)
        let (big, tooBig) = try add(l, "big", Self.config(nil, extra: #","mtu":9000"#))
        #expect(tooBig.errorCode == 7)
        #expect(tooBig.json?["msg"] == #"invalid MTU 9000: it must not exceed the master's ("up0", MTU 1500)"#)
        #expect(try bed.linkNames(big) == ["lo"])
        let (_, negative) = try add(l, "neg", Self.config(nil, extra: #","mtu":-1"#))
        #expect(negative.errorCode == 7)
    }

    @Test func linkInContainerUsesAMasterInsideTheContainer() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.namespace("h")
        let container = try bed.namespace("c")
        try bed.ip(container, "link", "add", "inner0", "type", "veth", "peer", "name", "inner0p")
        try bed.ip(container, "link", "set", "inner0", "up")
        let config =
            #"{"cniVersion":"1.1.0","name":"mvnet","type":"macvlan","master":"inner0","linkInContainer":true,"ipam":{"type":"static","addresses":[{"address":"10.66.0.2/24"}]}}"#
        let add = try bed.plugin("macvlan", "ADD", config: config, host: host, netns: bed.path(container))
        #expect(add.status == 0, "\(add.output)")
        let link = try #require(try bed.ipJSON(container, "link", "show", "eth0").arrayValue?.first)
        let inner = try #require(try bed.ipJSON(container, "link", "show", "inner0").arrayValue?.first)
        #expect(link["link"] == inner["ifname"])
        #expect(try bed.linkNames(host) == ["lo"])
        let del = try bed.plugin("macvlan", "DEL", config: config, host: host, netns: bed.path(container))
        #expect(del.status == 0)
        #expect(!(try bed.linkNames(container)).contains("eth0"))
        // Without linkInContainer the same master is looked for on the host, and named as missing there.
        let wrong = try bed.plugin(
            "macvlan", "ADD", config: config.replacingFirst(#","linkInContainer":true"#, with: ""),
            host: host, netns: bed.path(container))
        #expect(wrong.json?["msg"] == #"master "inner0" not found in the host netns"#)
    }

    @Test func dualStackAddressesRoutesAndReachability() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        let ipam = { (v4: String, v6: String) in
            #"{"type":"static","addresses":[{"address":"\#(v4)","gateway":"10.77.0.1"},{"address":"\#(v6)","gateway":"fd77::1"}],"routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"},{"dst":"10.200.0.0/16","gw":"10.77.0.1","priority":50}]}"#
        }
        let (c1, a1) = try add(l, "c1", Self.config(nil, ipam: ipam("10.77.0.11/24", "fd77::11/64")))
        let (_, a2) = try add(l, "c2", Self.config(nil, ipam: ipam("10.77.0.12/24", "fd77::12/64")))
        #expect(a1.status == 0 && a2.status == 0, "\(a1.output) \(a2.output)")
        #expect(try bed.exec(c1, "ping", "-6", "-c", "1", "-W", "2", "fd77::12") == 0)
        #expect(try bed.exec(c1, "ping", "-6", "-c", "1", "-W", "2", "fd77::1") == 0)
        let v6default = try bed.ipJSON(c1, "-6", "route", "show", "default").arrayValue?.first
        #expect(v6default?["gateway"] == "fd77::1")
        let metric = try bed.ipJSON(c1, "route", "show", "10.200.0.0/16").arrayValue?.first
        #expect(metric?["metric"] == 50)
        #expect(a1.json?["ips"]?.arrayValue?.count == 2)
    }

    @Test(arguments: ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
    func everyConfigVersion(_ version: String) throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        let config = Self.config("10.77.0.11/24", version: version)
        let (c1, a1) = try add(l, "c1", config)
        #expect(a1.status == 0, "\(a1.output)")
        #expect(a1.json?["cniVersion"]?.stringValue == version)
        switch version {
        case "0.1.0", "0.2.0":
            #expect(a1.json?["ip4"]?["ip"] == "10.77.0.11/24")
            #expect(a1.json?["ips"] == nil)
        case "0.3.0", "0.3.1", "0.4.0":
            #expect(a1.json?["ips"] == [["version": "4", "interface": 0, "address": "10.77.0.11/24"]])
        default:
            #expect(a1.json?["ips"] == [["interface": 0, "address": "10.77.0.11/24"]])
        }
        // CHECK with the ADD result as prevResult: refused below 0.4.0, passes from 0.4.0.
        var withPrevious = try #require(try JSONValue.parse(config).objectValue)
        withPrevious["prevResult"] = a1.json
        let check = try bed.plugin(
            "macvlan", "CHECK", config: JSONValue.object(withPrevious).serialized(), host: l.host,
            containerID: "c1", netns: bed.path(c1))
        let checkAllowed = ["0.4.0", "1.0.0", "1.1.0"].contains(version)
        #expect(check.status == (checkAllowed ? 0 : 1), "\(check.output)")
        if !checkAllowed { #expect(check.json?["msg"] == "config version does not allow CHECK") }
        for verb in ["GC", "STATUS"] {
            let outcome = try bed.plugin(
                "macvlan", verb, config: config, host: l.host, containerID: "", netns: nil, ifName: "")
            #expect(outcome.status == (version == "1.1.0" ? 0 : 1), "\(verb) \(outcome.output)")
        }
        let del = try bed.plugin("macvlan", "DEL", config: config, host: l.host, containerID: "c1", netns: bed.path(c1))
        #expect(del.status == 0)
    }

    @Test func l2OnlyCannotBePrintedBelow030() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        let (c1, outcome) = try add(l, "c1", Self.config(nil, version: "0.2.0"))
        #expect(outcome.status == 1)
        #expect(outcome.json?["msg"] == "cannot convert: no valid IP addresses")
        // The reference leaves the link behind here; we undo the ADD.
        #expect(try bed.linkNames(c1) == ["lo"])
        let del = try bed.plugin(
            "macvlan", "DEL", config: Self.config(nil, version: "0.2.0"), host: l.host, containerID: "c1",
            netns: bed.path(c1))
        #expect(del.status == 0)
        #expect(try bed.linkNames(c1) == ["lo"])
    }

    @Test func checkDetectsDrift() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        let config = Self.config("10.77.0.11/24", mode: "bridge")
        let (c1, a1) = try add(l, "c1", config)
        var object = try #require(try JSONValue.parse(config).objectValue)
        object["prevResult"] = a1.json
        let withPrevious = JSONValue.object(object).serialized()
        func check(_ text: String) throws -> PluginOutcome {
            try bed.plugin("macvlan", "CHECK", config: text, host: l.host, containerID: "c1", netns: bed.path(c1))
        }
        #expect(try check(withPrevious).status == 0)
        #expect(
            try check(withPrevious.replacingFirst(#""mode":"bridge""#, with: #""mode":"private""#)).errorCode == 103)
        #expect(try check(config).json?["msg"] == "required prevResult missing")
        try bed.ip(c1, "addr", "del", "10.77.0.11/24", "dev", "eth0")
        let drifted = try check(withPrevious)
        #expect(drifted.errorCode == 103)
        #expect(drifted.json?["msg"] == "address 10.77.0.11/24 is missing on eth0")
    }

    @Test func statusReportsAMissingMaster() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        #expect(
            try bed.plugin(
                "macvlan", "STATUS", config: Self.config(nil), host: l.host, containerID: "", netns: nil, ifName: ""
            ).status == 0)
        let missing = try bed.plugin(
            "macvlan", "STATUS", config: Self.config(nil).replacingFirst("up0", with: "gone0"),
            host: l.host, containerID: "", netns: nil, ifName: "")
        #expect(missing.errorCode == 50)
        #expect(missing.json?["msg"] == #"master "gone0" not found in the host netns"#)
        let noRoute = try bed.plugin(
            "macvlan", "STATUS", config: Self.config(nil).replacingFirst(#""master":"up0","#, with: ""),
            host: l.host, containerID: "", netns: nil, ifName: "")
        #expect(noRoute.errorCode == 50)
    }

    @Test func delSucceedsAfterTheMasterIsGone() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let l = try layout(bed)
        let hostLocal = #"{"type":"host-local","dataDir":"\#(dir.path)","ranges":[[{"subnet":"10.77.0.0/24"}]]}"#
        let config = Self.config(nil, ipam: hostLocal)
        let (c1, a1) = try add(l, "c1", config)
        #expect(a1.status == 0, "\(a1.output)")
        try bed.ip(l.host, "link", "del", "up0")
        let del = try bed.plugin("macvlan", "DEL", config: config, host: l.host, containerID: "c1", netns: bed.path(c1))
        #expect(del.status == 0, "\(del.output)")
        #expect(dir.files("mvnet") == ["last_reserved_ip.0", "lock"])
    }

    /// A failure after each ADD step leaves no link in the container and no reservation,
    /// whether host-local runs in-process or is exec'd.
    @Test(
        .enabled(if: Testbed.binariesHaveTestHooks, "release binaries carry no fault-injection hook"),
        arguments: ["create", "ipam", "sysctl", "address", "up", "route"])
    func failureAfterEachStepLeavesNothing(_ step: String) throws {
        for exec in ["0", "1"] {
            let bed = try Testbed()
            defer { bed.tearDown() }
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let l = try layout(bed)
            let hostLocal =
                #"{"type":"host-local","dataDir":"\#(dir.path)","ranges":[[{"subnet":"10.77.0.0/24"}]],"routes":[{"dst":"10.99.0.0/16"}]}"#
            let (c1, outcome) = try add(
                l, "c1", Self.config(nil, ipam: hostLocal),
                env: ["SWIFT_CNI_INJECT_FAILURE": step, "SWIFT_CNI_IPAM_EXEC": exec])
            #expect(outcome.status == 1)
            #expect(outcome.json?["msg"]?.stringValue == "injected failure after step \"\(step)\"", "\(outcome.output)")
            #expect(try bed.linkNames(c1) == ["lo"], "a link is left after a failure at \(step)")
            #expect(
                dir.files("mvnet").filter { $0.hasPrefix("10.") }.isEmpty,
                "a reservation is left after a failure at \(step)")
            #expect(try bed.linkNames(l.host) == ["lo", "up0"])
        }
    }

    @Test func ipamFailureRemovesTheLink() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let l = try layout(bed)
        let (c1, missing) = try add(l, "c1", Self.config(nil, ipam: #"{"type":"no-such-ipam"}"#))
        #expect(missing.errorCode == 101)
        #expect(missing.json?["msg"]?.stringValue?.hasPrefix(#"failed to find plugin "no-such-ipam" in path"#) == true)
        #expect(try bed.linkNames(c1) == ["lo"])
        let (c2, bad) = try add(
            l, "c2", Self.config(nil, ipam: #"{"type":"static","addresses":[{"address":"nonsense"}]}"#))
        #expect(bad.errorCode == 7)
        #expect(try bed.linkNames(c2) == ["lo"])
    }
}
