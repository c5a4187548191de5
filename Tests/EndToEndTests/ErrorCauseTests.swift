import TestSupport
import Testing

/// Refusals name their real cause instead of a guess: a loopback master and an MTU below 68
/// used to be blamed on passthru macvlans.
@Suite struct ErrorCauseTests {
    @Test(arguments: [
        (#""master":"lo""#, "loopback device"), (#""master":"up0","mtu":1"#, "below 68"),
        (#""master":"up0","mtu":67"#, "below 68"),
    ])
    func aMacvlanRefusalNamesItsCause(_ keys: String, _ expected: String) throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let config =
            #"{"cniVersion":"1.0.0","name":"cause","type":"macvlan",\#(keys),"ipam":{"type":"host-local","dataDir":"\#(stage.store.path)","ranges":[[{"subnet":"10.68.0.0/24"}]]}}"#
        let outcome = try stage.bed.plugin(
            "macvlan", "ADD", config: config, host: stage.host, containerID: "cause1", netns: stage.netns)
        #expect(outcome.errorCode == 7, "\(outcome.output)")
        #expect(outcome.output.contains(expected) && !outcome.output.contains("passthru"), "\(outcome.output)")
        #expect(try stage.bed.linkNames(stage.container) == ["lo"])
        #expect(stage.store.files("cause").filter { $0.hasPrefix("10.68.") }.isEmpty)
    }

    @Test func anMTUOf68IsTaken() throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let config =
            #"{"cniVersion":"1.0.0","name":"cause","type":"macvlan","master":"up0","mtu":68,"ipam":{"type":"static","addresses":[{"address":"10.68.0.2/24"}]}}"#
        let outcome = try stage.bed.plugin(
            "macvlan", "ADD", config: config, host: stage.host, containerID: "cause2", netns: stage.netns)
        #expect(outcome.status == 0, "\(outcome.output)")
    }
}
