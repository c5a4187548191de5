import CNI
import JSON
import Testing

/// A plugin that records what it was asked and answers with a fixed result.
final class RecordingPlugin: CNIPlugin, @unchecked Sendable {
    var calls: [CNICommand] = []
    var failure: CNIError?
    var about: String { "recording plugin" }

    func add(_ request: CNIRequest) throws -> CNIResult {
        calls.append(.add)
        if let failure { throw failure }
        return CNIResult(
            cniVersion: request.config.cniVersion,
            ips: [.init(address: .init("10.1.0.2/16")!, gateway: .init("10.1.0.1"))])
    }
    func delete(_ request: CNIRequest) throws { calls.append(.delete) }
    func check(_ request: CNIRequest) throws { calls.append(.check) }
    func garbageCollect(_ request: CNIRequest) throws { calls.append(.garbageCollect) }
    func status(_ request: CNIRequest) throws { calls.append(.status) }
}

@Suite struct PluginRunnerTests {
    func env(_ command: String) -> ProcessEnvironment {
        [
            "CNI_COMMAND": command, "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0",
            "CNI_PATH": "/bin",
        ]
    }

    func run(_ command: String, _ stdin: String, plugin: RecordingPlugin = RecordingPlugin()) -> (JSONValue?, Int32) {
        let (output, status, _) = PluginRunner.run(plugin, environment: env(command), readInput: { Array(stdin.utf8) })
        return (try? JSONValue.parse(output), status)
    }

    /// A result that cannot be delivered: the ADD is undone with the plugin's DEL and fails
    /// with code 5; one that is delivered is not printed again.
    @Test func anUndeliverableResultUndoesTheAdd() throws {
        let plugin = RecordingPlugin()
        let config = #"{"cniVersion":"1.0.0","name":"n","type":"recording"}"#
        let (output, status, _) = PluginRunner.run(
            plugin, environment: env("ADD"), readInput: { Array(config.utf8) }, deliver: { _ in false })
        #expect(status == 1)
        #expect(plugin.calls == [.add, .delete])
        let error = try JSONValue.parse(output)
        #expect(error["code"]?.intValue == 5)
        #expect(error["msg"]?.stringValue?.contains("the ADD was undone") == true, "\(output)")
        let delivered = RecordingPlugin()
        var written = ""
        let (rest, code, _) = PluginRunner.run(
            delivered, environment: env("ADD"), readInput: { Array(config.utf8) },
            deliver: {
                written = $0
                return true
            })
        #expect(code == 0 && rest.isEmpty && written.contains("10.1.0.2/16"))
        #expect(delivered.calls == [.add])
    }

    @Test func versionListsEverySupportedVersionAndEchoesTheInput() {
        let (reply, status) = run("VERSION", #"{"cniVersion":"0.4.0"}"#)
        #expect(status == 0)
        #expect(
            reply == [
                "cniVersion": "0.4.0",
                "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
            ])
        #expect(run("VERSION", "").0?["cniVersion"] == "1.1.0")
    }

    @Test func addPrintsTheResultAtTheConfigVersion() {
        let (reply, status) = run("ADD", #"{"cniVersion":"0.2.0","name":"net1","type":"x"}"#)
        #expect(status == 0)
        #expect(reply?["ip4"]?["ip"] == "10.1.0.2/16")
        let (modern, _) = run("ADD", #"{"cniVersion":"1.1.0","name":"net1","type":"x"}"#)
        #expect(modern?["ips"]?.arrayValue?.first?["address"] == "10.1.0.2/16")
    }

    @Test func badJSONIsCode6() {
        let (reply, status) = run("ADD", "{not json")
        #expect(status == 1)
        #expect(reply?["code"] == 6)
    }

    @Test func missingOrBadNameIsCode7() {
        #expect(run("ADD", #"{"cniVersion":"1.1.0"}"#).0?["msg"] == "missing network name")
        #expect(run("ADD", #"{"cniVersion":"1.1.0","name":"a b"}"#).0?["code"] == 7)
    }

    @Test func unsupportedVersionIsCode1WithDetails() {
        let (reply, status) = run("ADD", #"{"cniVersion":"1.2.0","name":"n"}"#)
        #expect(status == 1)
        #expect(reply?["code"] == 1)
        #expect(reply?["msg"] == "incompatible CNI versions")
        #expect(
            reply?["details"]
                == #"config is "1.2.0", plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]"#)
    }

    @Test func checkNeeds040AndGCAndStatusNeed110() {
        #expect(run("CHECK", #"{"cniVersion":"0.3.1","name":"n"}"#).0?["msg"] == "config version does not allow CHECK")
        #expect(run("GC", #"{"cniVersion":"1.0.0","name":"n"}"#).0?["msg"] == "config version does not allow GC")
        #expect(
            run("STATUS", #"{"cniVersion":"0.4.0","name":"n"}"#).0?["msg"] == "config version does not allow STATUS")
        #expect(run("CHECK", #"{"cniVersion":"x.y","name":"n"}"#).0?["code"] == 6)
        let plugin = RecordingPlugin()
        #expect(run("GC", #"{"cniVersion":"1.1.0","name":"n"}"#, plugin: plugin).1 == 0)
        #expect(plugin.calls == [.garbageCollect])
    }

    @Test func pluginErrorsKeepTheirCodeAndCarryTheVersion() {
        let plugin = RecordingPlugin()
        plugin.failure = CNIError(code: .tryAgainLater, msg: "busy", details: "try later")
        let (reply, status) = run("ADD", #"{"cniVersion":"1.0.0","name":"n"}"#, plugin: plugin)
        #expect(status == 1)
        #expect(reply == ["cniVersion": "1.0.0", "code": 11, "msg": "busy", "details": "try later"])
    }

    @Test func unreadablePrevResultFailsCheckButNotDel() {
        let config = #"{"cniVersion":"1.0.0","name":"n","prevResult":{"cniVersion":"1.2.0","ips":"nope"}}"#
        let plugin = RecordingPlugin()
        #expect(run("CHECK", config, plugin: plugin).0?["code"] == 6)
        #expect(run("DEL", config, plugin: plugin).1 == 0)
        #expect(plugin.calls == [.delete])
    }

    @Test func noCommandPrintsAbout() {
        let (output, status, about) = PluginRunner.run(RecordingPlugin(), environment: [:], readInput: { [] })
        #expect(output.isEmpty && status == 0)
        #expect(about?.contains("0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0") == true)
    }

    @Test func readsValidAttachmentsWithFallback() throws {
        let modern = try NetworkConfig(
            bytes: Array(#"{"name":"n","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}"#.utf8))
        #expect(try modern.validAttachments() == [Attachment(containerID: "a", ifName: "eth0")])
        let old = try NetworkConfig(
            bytes: Array(#"{"name":"n","cni.dev/attachments":[{"containerID":"b","ifname":"net1"}]}"#.utf8))
        #expect(try old.validAttachments() == [Attachment(containerID: "b", ifName: "net1")])
        let none = try NetworkConfig(bytes: Array(#"{"name":"n","cni.dev/valid-attachments":null}"#.utf8))
        #expect(try none.validAttachments().isEmpty)
    }
}
