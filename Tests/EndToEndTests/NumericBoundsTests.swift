import JSON
import POSIX
import TestSupport
import Testing

/// Every number a plugin takes from outside (config, prevResult) at its edges: negative,
/// 2^31, 2^32, 2^64, fractional, exponent, 1e400. Each run must exit 0 or 1 with JSON on stdout
/// (never a signal), and a refused ADD leaves no link in the container and no reservation.
@Suite struct NumericBoundsTests {
    static let hostileNumbers = [
        "-1", "-0", "0.5", "1e3", "1E+2", "2147483648", "4294967296", "18446744073709551616",
        "1e400", "-1e400",
    ]

    /// A key path inside a JSON document: member names and array positions.
    enum Step {
        case key(String)
        case index(Int)
    }

    /// `value` with the member at `path` replaced by `replacement`.
    static func setting(_ value: JSONValue, _ path: ArraySlice<Step>, to replacement: JSONValue) -> JSONValue {
        guard let step = path.first else { return replacement }
        switch (step, value) {
        case (.key(let key), .object(var object)):
            object[key] = setting(object[key] ?? .null, path.dropFirst(), to: replacement)
            return .object(object)
        case (.index(let index), .array(var array)) where array.indices.contains(index):
            array[index] = setting(array[index], path.dropFirst(), to: replacement)
            return .array(array)
        default:
            return value
        }
    }

    static func describe(_ path: [Step]) -> String {
        path.map { step in
            switch step {
            case .key(let key): key
            case .index(let index): "[\(index)]"
            }
        }.joined(separator: ".")
    }

    static let routeKeys: [String] = ["priority", "mtu", "table", "advmss", "scope"]

    /// (plugin, command, config template, key paths). STORE is replaced by a fresh store.
    static let cases: [(String, String, String, [[Step]])] = [
        (
            "macvlan", "ADD",
            #"{"cniVersion":"1.1.0","name":"nb","type":"macvlan","master":"up0","mtu":1400,"bcqueuelen":100,"ipam":{"type":"static","addresses":[{"address":"10.61.0.5/24"}],"routes":[{"dst":"10.99.0.0/16","priority":5,"mtu":1400,"table":254,"advmss":1300,"scope":0}]}}"#,
            [[.key("mtu")], [.key("bcqueuelen")]]
                + routeKeys.map { [.key("ipam"), .key("routes"), .index(0), .key($0)] }
        ),
        (
            "macvlan", "ADD",
            #"{"cniVersion":"1.0.0","name":"nb","type":"macvlan","master":"up0","ipam":{"type":"host-local","dataDir":"STORE","ranges":[[{"subnet":"10.62.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0","priority":10}]}}"#,
            [[.key("ipam"), .key("routes"), .index(0), .key("priority")]]
        ),
        (
            "bridge", "ADD",
            #"{"cniVersion":"1.1.0","name":"nb","type":"bridge","bridge":"nb0","mtu":1400,"ipam":{"type":"host-local","dataDir":"STORE","ranges":[[{"subnet":"10.63.0.0/24"}]],"routes":[{"dst":"10.98.0.0/16","table":254}]}}"#,
            [
                [.key("mtu")], [.key("vlan")], [.key("ipam"), .key("routes"), .index(0), .key("table")],
                [.key("ipam"), .key("routes"), .index(0), .key("priority")],
            ]
        ),
        (
            "bridge", "ADD",
            #"{"cniVersion":"1.1.0","name":"nb","type":"bridge","bridge":"nb1","vlanTrunk":[{"id":5},{"minID":7,"maxID":9}],"ipam":{"type":"static","addresses":[{"address":"10.64.0.5/24"}]}}"#,
            [[.key("vlanTrunk"), .index(0), .key("id")], [.key("vlanTrunk"), .index(1), .key("minID")]]
        ),
        (
            "ipvlan", "ADD", #"{"cniVersion":"1.1.0","name":"nb","type":"ipvlan","master":"up0","mtu":1400}"#,
            [[.key("mtu")]]
        ),
        (
            "vlan", "ADD", #"{"cniVersion":"1.1.0","name":"nb","type":"vlan","master":"up0","vlanId":5,"mtu":1400}"#,
            [[.key("vlanId")], [.key("mtu")]]
        ),
        (
            "dhcp", "ADD",
            #"{"cniVersion":"1.1.0","name":"nb","type":"macvlan","ipam":{"type":"dhcp","daemonSocketPath":"STORE/none.sock","timeout":5}}"#,
            [[.key("ipam"), .key("timeout")]]
        ),
        (
            "host-local", "ADD",
            #"{"cniVersion":"1.1.0","name":"nb","type":"host-local","ipam":{"type":"host-local","dataDir":"STORE","subnet":"10.65.0.0/24","routes":[{"dst":"10.97.0.0/16","priority":1,"table":100}]}}"#,
            [
                [.key("ipam"), .key("routes"), .index(0), .key("priority")],
                [.key("ipam"), .key("routes"), .index(0), .key("table")],
            ]
        ),
        (
            "static", "ADD",
            #"{"cniVersion":"1.1.0","name":"nb","type":"static","ipam":{"type":"static","addresses":[{"address":"10.66.0.5/24"}],"routes":[{"dst":"10.96.0.0/16","mtu":1400,"scope":0}]}}"#,
            [
                [.key("ipam"), .key("routes"), .index(0), .key("mtu")],
                [.key("ipam"), .key("routes"), .index(0), .key("scope")],
            ]
        ),
        (
            "macvlan", "CHECK",
            #"{"cniVersion":"1.1.0","name":"nb","type":"macvlan","master":"up0","prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"NETNS","mtu":1500}],"ips":[{"address":"10.61.0.5/24","interface":0}],"routes":[{"dst":"10.99.0.0/16","priority":1}]}}"#,
            [
                [.key("prevResult"), .key("routes"), .index(0), .key("priority")],
                [.key("prevResult"), .key("interfaces"), .index(0), .key("mtu")],
                [.key("prevResult"), .key("ips"), .index(0), .key("interface")],
                [.key("prevResult"), .key("routes"), .index(0), .key("table")],
            ]
        ),
    ]

    @Test func everyNumericKeyAtItsEdges() throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let (bed, store, host, container) = (stage.bed, stage.store, stage.host, stage.container)
        var runs = 0
        var refused = 0
        for (plugin, command, template, paths) in Self.cases {
            let base = try JSONValue.parse(
                template.replacingFirst("STORE", with: store.path).replacingFirst("NETNS", with: bed.path(container)))
            for path in paths {
                for number in Self.hostileNumbers {
                    let config = Self.setting(base, path[...], to: .number(number)).serialized()
                    let what = "\(plugin) \(command) with \(Self.describe(path)) = \(number)"
                    let outcome = try bed.plugin(
                        plugin, command, config: config, host: host, containerID: "nb\(runs)",
                        netns: bed.path(container))
                    runs += 1
                    #expect(
                        outcome.status == 0 || outcome.status == 1,
                        "\(what): exited \(outcome.status), output \(outcome.output)")
                    if outcome.status != 0 {
                        refused += 1
                        #expect(outcome.errorCode != nil, "\(what): no error object: \(outcome.output)")
                        if command == "ADD" {
                            #expect(try bed.linkNames(container) == ["lo"], "\(what): a refused ADD left a link")
                            #expect(
                                store.files("nb").allSatisfy { $0 == "lock" || $0.hasPrefix("last_reserved_ip") },
                                "\(what): a refused ADD left a reservation: \(store.files("nb"))")
                        }
                    } else if command == "ADD" {
                        let del = try bed.plugin(
                            plugin, "DEL", config: config, host: host, containerID: "nb\(runs - 1)",
                            netns: bed.path(container))
                        #expect(del.status == 0, "\(what): DEL after an accepted ADD failed: \(del.output)")
                    }
                }
            }
        }
        FileIO.writeAll(
            .standardError, "numeric bounds: \(runs) runs, \(refused) refused with an error object, no signal\n")
        #expect(refused > runs / 2, "most hostile numbers must be refused")
    }

    /// Issue 13, defect 1, exactly as reported: a negative route priority was SIGILL with the
    /// interface and the reservation left behind.
    @Test func negativeRoutePriorityIsCodeSevenNamingTheKey() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        let container = try bed.namespace("c")
        let config =
            #"{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"up0","ipam":{"type":"static","addresses":[{"address":"10.61.0.5/24"}],"routes":[{"dst":"10.99.0.0/16","priority":-1}]}}"#
        let outcome = try bed.plugin("macvlan", "ADD", config: config, host: host, netns: bed.path(container))
        #expect(outcome.status == 1)
        #expect(outcome.errorCode == 7)
        #expect(outcome.json?["msg"] == #""ipam.routes[0].priority": -1 is out of range (0 to 4294967295)"#)
        #expect(try bed.linkNames(container) == ["lo"])
    }

    /// Defect 4's inputs through a whole ADD and DEL: a config with a 100k-member object, and
    /// one of 10 MB (a long string), are read, handed on and answered like any other.
    @Test func hugeConfigsAreServed() throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let (bed, store, host, container) = (stage.bed, stage.store, stage.host, stage.container)
        let base =
            #"{"cniVersion":"1.1.0","name":"huge","type":"macvlan","master":"up0","ipam":{"type":"host-local","dataDir":"\#(store.path)","ranges":[[{"subnet":"10.67.0.0/24"}]]},"#
        let manyKeys = base + #""extra":{"# + (0..<100_000).map { #""k\#($0)":\#($0)"# }.joined(separator: ",") + "}}"
        let longString = base + #""extra":""# + String(repeating: "x", count: 10 << 20) + #""}"#
        for (what, config) in [("100k keys", manyKeys), ("10 MB", longString)] {
            let add = try bed.plugin("macvlan", "ADD", config: config, host: host, netns: bed.path(container))
            #expect(add.status == 0, "\(what): \(add.output.prefix(300))")
            #expect(add.json?["ips"]?.arrayValue?.count == 1, "\(what)")
            let del = try bed.plugin("macvlan", "DEL", config: config, host: host, netns: bed.path(container))
            #expect(del.status == 0, "\(what): \(del.output.prefix(300))")
            #expect(try bed.linkNames(container) == ["lo"])
        }
    }
}
