import Addressing
import CNI
import Testing

@testable import Firewall
@testable import Plugins

/// A forward firewall that records what it is asked and fails where a test says.
final class RecordingForwardFirewall: ForwardFirewall, @unchecked Sendable {
    let name: String
    var calls: [String] = []
    var failIsolate = false
    var unusable: String?

    init(_ name: String) { self.name = name }

    func unusableReason() -> String? { unusable }
    func allow(_ addresses: [IPAddress], containerID: String) throws(FirewallError) {
        calls.append("allow \(addresses.map(\.description)) \(containerID)")
    }
    func revoke(_ addresses: [IPAddress], containerID: String) throws(FirewallError) {
        calls.append("revoke \(addresses.map(\.description)) \(containerID)")
    }
    func check(_ addresses: [IPAddress], containerID: String) throws(FirewallError) {
        calls.append("check \(addresses.map(\.description))")
    }
    func isolate(bridge: String, isolated: Bool, families: Set<IPAddress.Family>) throws(FirewallError) {
        calls.append("isolate \(bridge) \(isolated)")
        if failIsolate { throw FirewallError(tool: name, operation: "isolate", output: "refused") }
    }
}

/// The firewall plugin's decisions, root-free: which backend with which settings, what is
/// undone when a step fails, what DEL and STATUS ask.
@Suite struct FirewallLogicTests {
    static let previous =
        #"{"cniVersion":"1.0.0","interfaces":[{"name":"br0"},{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.1.0.5/24","interface":1},{"address":"fd00::5/64","interface":1}]}"#

    static func config(_ extra: String = "", previous: String? = previous, version: String = "1.0.0") -> String {
        let prev = previous.map { #","prevResult":\#($0)"# } ?? ""
        return #"{"cniVersion":"\#(version)","name":"fw","type":"firewall"\#(extra)\#(prev)}"#
    }

    /// A plugin whose backends are one recording firewall; `chosen` collects the choices.
    final class Stage: @unchecked Sendable {
        let firewall = RecordingForwardFirewall("fake")
        var chosen: [FirewallPlugin.BackendChoice] = []
        var firewalldRuns = false
        var probes = 0
        var plugin: FirewallPlugin {
            FirewallPlugin(
                backends: { choice in
                    self.chosen.append(choice)
                    return self.firewall
                },
                firewalldIsRunning: {
                    self.probes += 1
                    return self.firewalldRuns
                })
        }
    }

    @Test func theConfigChoosesTheBackendAndItsSettings() throws {
        let stage = Stage()
        _ = try stage.plugin.add(try request(Self.config()))
        _ = try stage.plugin.add(try request(Self.config(#","iptablesAdminChainName":"MY-ADMIN""#)))
        _ = try stage.plugin.add(
            try request(Self.config(#","backend":"nftables","nftablesForwardChain":"inet filter forward""#)))
        #expect(stage.chosen.map(\.backend) == ["iptables", "iptables", "nftables"])
        #expect(stage.chosen[1].iptablesAdminChain == "MY-ADMIN")
        #expect(stage.chosen[2].nftablesForwardChain == NftablesForwardFirewall.ChainName("inet filter forward"))
        #expect(stage.firewall.calls.allSatisfy { $0 == "allow [\"10.1.0.5\", \"fd00::5\"] c1" })
    }

    /// With no `backend`, firewalld when it runs, else iptables (upstream's rule); a backend
    /// named is used without asking; `firewalldZone` defaults to `trusted`; bad values are
    /// code 7 naming the key.
    @Test func theDefaultBackendIsFirewalldWhenItRuns() throws {
        let stage = Stage()
        stage.firewalldRuns = true
        _ = try stage.plugin.add(try request(Self.config()))
        _ = try stage.plugin.add(try request(Self.config(#","firewalldZone":"public""#)))
        _ = try stage.plugin.add(try request(Self.config(#","backend":"iptables""#)))
        #expect(stage.probes == 2)
        stage.firewalldRuns = false
        try stage.plugin.delete(try request(Self.config(), command: "DEL"))
        _ = try stage.plugin.add(try request(Self.config(#","backend":"firewalld""#)))
        #expect(stage.probes == 3)
        #expect(stage.chosen.map(\.backend) == ["firewalld", "firewalld", "iptables", "iptables", "firewalld"])
        #expect(stage.chosen.map(\.firewalldZone) == ["trusted", "public", "trusted", "trusted", "trusted"])
        for (extra, key) in [
            (#","backend":"firewalld2""#, "\"backend\": unknown backend \"firewalld2\""),
            (#","firewalldZone":"a b""#, "\"firewalldZone\""), (#","firewalldZone":7"#, "firewalldZone"),
        ] {
            let error = #expect(throws: CNIError.self) { try stage.plugin.add(try request(Self.config(extra))) }
            #expect(error?.code == 7 && error?.msg.contains(key) == true, "\(extra): \(String(describing: error))")
        }
    }

    /// A failed isolation takes back what ADD allowed, and the error is the backend's.
    @Test func aFailedIsolationRevokesTheAllow() throws {
        let stage = Stage()
        stage.firewall.failIsolate = true
        #expect(throws: FirewallError.self) {
            try stage.plugin.add(try request(Self.config(#","ingressPolicy":"isolated""#)))
        }
        #expect(
            stage.firewall.calls == [
                "allow [\"10.1.0.5\", \"fd00::5\"] c1", "isolate br0 true", "revoke [\"10.1.0.5\", \"fd00::5\"] c1",
            ])
    }

    /// An ingress policy needs the bridge in the previous result: code 7, nothing allowed
    /// that is not taken back.
    @Test func anIngressPolicyWithoutABridgeIsAConfigError() throws {
        let stage = Stage()
        let noBridge = #"{"cniVersion":"1.0.0","interfaces":[],"ips":[{"address":"10.1.0.5/24"}]}"#
        let error = #expect(throws: CNIError.self) {
            try stage.plugin.add(try request(Self.config(#","ingressPolicy":"same-bridge""#, previous: noBridge)))
        }
        #expect(error?.code == 7)
        #expect(stage.firewall.calls.first == "allow [\"10.1.0.5\"] c1")
        #expect(!stage.firewall.calls.contains { $0.hasPrefix("isolate") })
    }

    /// DEL without a previous result still asks the backend (nftables finds the rules by the
    /// container id; iptables has no addresses to go by); without one ADD is code 7.
    @Test func delWithoutPreviousResultAndAddWithout() throws {
        let stage = Stage()
        try stage.plugin.delete(try request(Self.config(previous: nil), command: "DEL"))
        #expect(stage.firewall.calls == ["revoke [] c1"])
        let error = #expect(throws: CNIError.self) { try stage.plugin.add(try request(Self.config(previous: nil))) }
        #expect(error?.code == 7)
    }

    /// STATUS is code 50 naming the backend when it cannot be used.
    @Test func statusNamesAnUnusableBackend() throws {
        let stage = Stage()
        stage.firewall.unusable = "no nf_tables"
        let status = #expect(throws: CNIError.self) {
            try stage.plugin.status(try request(Self.config(previous: nil, version: "1.1.0"), command: "STATUS"))
        }
        #expect(status?.code == 50 && status?.msg == "the fake backend is not usable")
    }
}
