import JSON
import Testing

/// The CNI protocol as the built binaries speak it (exec'd, stdin, stdout, exit status).
@Suite struct ProtocolEndToEndTests {
    static let plugins = ["macvlan", "static"]

    @Test(arguments: plugins)
    func versionListsAllSevenVersions(_ plugin: String) throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.namespace("h")
        let outcome = try bed.plugin(plugin, "VERSION", config: #"{"cniVersion":"1.0.0"}"#, host: host)
        #expect(outcome.status == 0)
        #expect(
            outcome.json == [
                "cniVersion": "1.0.0",
                "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
            ])
    }

    @Test(arguments: plugins)
    func badInputGivesTheSpecsCodes(_ plugin: String) throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.namespace("h")
        let container = try bed.namespace("c")
        let good =
            #"{"cniVersion":"1.1.0","name":"n1","type":"\#(plugin)","master":"up0","ipam":{"type":"static","addresses":[{"address":"10.9.0.2/24"}]}}"#

        let badJSON = try bed.plugin(plugin, "ADD", config: "{\"cniVersion\":", host: host, netns: bed.path(container))
        #expect(badJSON.status == 1 && badJSON.errorCode == 6)

        let noNetns = try bed.plugin(plugin, "ADD", config: good, host: host, netns: nil)
        #expect(noNetns.status == 1 && noNetns.errorCode == 4)
        #expect(noNetns.json?["msg"]?.stringValue == "required env variables [CNI_NETNS] missing")

        let unsupported = try bed.plugin(
            plugin, "ADD", config: good.replacingFirst("1.1.0", with: "9.9.9"), host: host, netns: bed.path(container))
        #expect(unsupported.status == 1 && unsupported.errorCode == 1)

        let badIfName = try bed.plugin(
            plugin, "ADD", config: good, host: host, netns: bed.path(container), ifName: "eth0/x")
        #expect(badIfName.status == 1 && badIfName.errorCode == 4)

        let badID = try bed.plugin(
            plugin, "ADD", config: good, host: host, containerID: "-x y", netns: bed.path(container))
        #expect(badID.status == 1 && badID.errorCode == 4)
        #expect(badID.json?["msg"]?.stringValue == "invalid characters in containerID")

        let noName = try bed.plugin(
            plugin, "ADD", config: #"{"cniVersion":"1.1.0","type":"x"}"#, host: host, netns: bed.path(container))
        #expect(noName.status == 1 && noName.errorCode == 7)

        let unknownCommand = try bed.plugin(plugin, "FROB", config: good, host: host, netns: bed.path(container))
        #expect(unknownCommand.status == 1 && unknownCommand.errorCode == 4)

        // A main plugin checks CNI_NETNS (an IPAM plugin never enters it).
        if plugin == "macvlan" {
            let notANamespace = try bed.plugin(plugin, "ADD", config: good, host: host, netns: "/etc/hostname")
            #expect(notANamespace.status == 1 && notANamespace.errorCode == 4, "\(notANamespace.output)")
            #expect(notANamespace.json?["msg"] == "CNI_NETNS: /etc/hostname is not a network namespace")
            let missing = try bed.plugin(plugin, "ADD", config: good, host: host, netns: "/run/netns/no-such-namespace")
            #expect(missing.json?["msg"] == "CNI_NETNS: network namespace /run/netns/no-such-namespace does not exist")
        }

        // Nothing was made in the container by any of these.
        #expect(try bed.linkNames(container) == ["lo"])
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = firstRange(of: target) else { return self }
        return String(self[..<range.lowerBound]) + replacement + String(self[range.upperBound...])
    }
}
