import JSON
import TestSupport
import Testing

/// `loopback` as containerd's CRI and Podman call it for every sandbox: lo comes up and is
/// reported with its addresses, CHECK sees it up, DEL takes it down and tolerates a gone or
/// empty netns, a prevResult passes through unchanged.
@Suite struct LoopbackTests {
    static let config = #"{"cniVersion":"1.1.0","name":"lo","type":"loopback"}"#

    @Test func addCheckDel() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.namespace("h")
        let container = try bed.namespace("c")
        try bed.ip(container, "link", "set", "lo", "down")
        let add = try bed.plugin(
            "loopback", "ADD", config: Self.config, host: host, netns: bed.path(container), ifName: "ignored0")
        #expect(add.status == 0, "\(add.output)")
        let interface = add.json?["interfaces"]?.arrayValue?.first
        #expect(interface?["name"] == "lo")
        #expect(interface?["mac"] == "00:00:00:00:00:00")
        #expect(interface?["sandbox"] == .string(bed.path(container)))
        let addresses = add.json?["ips"]?.arrayValue?.compactMap { $0["address"]?.stringValue } ?? []
        #expect(addresses.contains("127.0.0.1/8"), "\(add.output)")
        #expect(
            try bed.ipJSON(container, "link", "show", "lo").arrayValue?.first?["flags"]?.arrayValue?.contains("UP")
                == true)

        var withPrevious = try JSONValue.parse(Self.config)
        if case .object(var object) = withPrevious, let result = add.json {
            object["prevResult"] = result
            withPrevious = .object(object)
        }
        let check = try bed.plugin(
            "loopback", "CHECK", config: withPrevious.serialized(), host: host, netns: bed.path(container))
        #expect(check.status == 0, "\(check.output)")
        let del = try bed.plugin("loopback", "DEL", config: Self.config, host: host, netns: bed.path(container))
        #expect(del.status == 0, "\(del.output)")
        #expect(
            try bed.ipJSON(container, "link", "show", "lo").arrayValue?.first?["flags"]?.arrayValue?.contains("UP")
                == false)
        let checkDown = try bed.plugin(
            "loopback", "CHECK", config: withPrevious.serialized(), host: host, netns: bed.path(container))
        #expect(checkDown.errorCode == 103, "\(checkDown.output)")
        #expect(checkDown.json?["msg"] == "loopback interface is down")

        #expect(try bed.plugin("loopback", "DEL", config: Self.config, host: host, netns: "").status == 0)
        try bed.deleteNamespace(container)
        #expect(
            try bed.plugin("loopback", "DEL", config: Self.config, host: host, netns: bed.path(container)).status == 0)
    }

    /// A prevResult from an earlier plugin of the chain is passed through unchanged; an old
    /// config version gets the old result shape.
    @Test func prevResultPassesThroughAndOldVersions() throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.namespace("h")
        let container = try bed.namespace("c")
        let chained =
            #"{"cniVersion":"1.0.0","name":"lo","type":"loopback","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.1.2.3/24","interface":0}]}}"#
        let add = try bed.plugin("loopback", "ADD", config: chained, host: host, netns: bed.path(container))
        #expect(add.status == 0, "\(add.output)")
        #expect(add.json?["ips"]?.arrayValue?.first?["address"] == "10.1.2.3/24")
        #expect(add.json?["interfaces"]?.arrayValue?.first?["name"] == "eth0")
        let old = try bed.plugin(
            "loopback", "ADD", config: #"{"cniVersion":"0.2.0","name":"lo","type":"loopback"}"#,
            host: host, netns: bed.path(container))
        #expect(old.status == 0, "\(old.output)")
        #expect(old.json?["ip4"]?["ip"] == "127.0.0.1/8")
    }
}
