import Addressing
import CNI
import JSON
import Testing

@testable import Firewall
@testable import Plugins

/// A port mapper that records what it is asked and fails where a test says.
final class RecordingPortMapper: PortMapper, @unchecked Sendable {
    let name: String
    var calls: [String] = []
    var failForward: IPAddress.Family?
    var failCheck = false

    init(_ name: String) { self.name = name }

    func unusableReason() -> String? { nil }
    func forward(_ request: PortMapRequest, to container: IPPrefix) throws(FirewallError) {
        calls.append("forward \(container) \(request.mappings.count)")
        if failForward == container.family {
            throw FirewallError(tool: name, operation: "forward", output: "refused")
        }
    }
    func check(_ request: PortMapRequest, for container: IPPrefix) throws(FirewallError) {
        calls.append("check \(container)")
        if failCheck { throw FirewallError(tool: name, operation: "check", output: "rule missing") }
    }
    func remove(network: String, containerID: String) throws(FirewallError) {
        calls.append("remove \(network) \(containerID)")
    }
    func collectGarbage(network: String, validContainers: Set<String>) throws(FirewallError) {
        calls.append("gc \(network) \(validContainers.sorted())")
    }
}

/// portmap's host without a kernel: two backends and a log of the host-side steps.
final class FakePortmapHost: PortmapHost, @unchecked Sendable {
    let iptables = RecordingPortMapper("iptables")
    let nftables = RecordingPortMapper("nftables")
    var steps: [String] = []

    func portMapper(_ backend: PortmapBackend?) -> any PortMapper { backend == .nftables ? nftables : iptables }
    func otherInstalledPortMappers(than chosen: any PortMapper) -> [any PortMapper] {
        chosen.name == "iptables" ? [nftables] : [iptables]
    }
    func allowLocalhostRouting(toward container: IPAddress) throws { steps.append("localnet \(container)") }
    func deleteUDPConntrack(family: IPAddress.Family, ports: Set<UInt16>) throws {
        steps.append("conntrack \(family) \(ports.sorted())")
    }
}

/// portmap's decisions, root-free: which backend, which addresses, what is undone.
struct PortmapLogicTests {
    static let previous =
        #"{"cniVersion":"1.0.0","interfaces":[{"name":"br0"},{"name":"veth1"},{"name":"eth0","sandbox":"/x"},{"name":"eth1","sandbox":"/x"}],"ips":[{"address":"192.0.2.9/24","interface":0},{"address":"10.1.0.5/24","interface":2},{"address":"10.2.0.5/24","interface":3},{"address":"fd00::5/64","interface":2}]}"#

    static func config(_ mappings: String, extra: String = "", previous: String? = previous) -> String {
        let prev = previous.map { #","prevResult":\#($0)"# } ?? ""
        return
            #"{"cniVersion":"1.0.0","name":"net","type":"portmap"\#(extra),"runtimeConfig":{"portMappings":\#(mappings)}\#(prev)}"#
    }

    @Test func theContainersOwnAddressesAreMappedEachFamilyOnce() throws {
        let host = FakePortmapHost()
        let plugin = PortmapPlugin(host: host)
        let result = try plugin.add(
            try request(
                Self.config(
                    #"[{"hostPort":80,"containerPort":8080},{"hostPort":53,"containerPort":53,"protocol":"udp"}]"#)))
        #expect(result.ips.count == 4, "the previous result passes through")
        // 192.0.2.9 is on a host interface, 10.2.0.5 on another container interface.
        #expect(host.iptables.calls == ["forward 10.1.0.5/24 2", "forward fd00::5/64 2"])
        #expect(host.steps == ["conntrack v4 [53]", "localnet 10.1.0.5", "conntrack v6 [53]"])
        #expect(host.nftables.calls.isEmpty)
    }

    @Test func withoutMappingsNothingIsTouched() throws {
        let host = FakePortmapHost()
        let result = try PortmapPlugin(host: host).add(try request(Self.config("[]")))
        #expect(result.ips.count == 4)
        #expect(host.iptables.calls.isEmpty && host.steps.isEmpty)
        #expect(throws: CNIError.self) {
            try PortmapPlugin(host: host).add(
                try request(Self.config(#"[{"hostPort":1,"containerPort":1}]"#, previous: nil)))
        }
    }

    @Test func aFailedFamilyUndoesTheAttachment() throws {
        let host = FakePortmapHost()
        host.nftables.failForward = .v6
        #expect(throws: FirewallError.self) {
            try PortmapPlugin(host: host).add(
                try request(
                    Self.config(#"[{"hostPort":80,"containerPort":80}]"#, extra: #","backend":"nftables","snat":false"#)
                ))
        }
        #expect(host.nftables.calls == ["forward 10.1.0.5/24 1", "forward fd00::5/64 1", "remove net c1"])
        #expect(host.steps.isEmpty, "snat false: no route_localnet; tcp only: no conntrack")
    }

    @Test func delChecksAndGarbageCollection() throws {
        let host = FakePortmapHost()
        let plugin = PortmapPlugin(host: host)
        try plugin.delete(try request(Self.config("[]"), command: "DEL"))
        #expect(host.iptables.calls.isEmpty)
        try plugin.delete(try request(Self.config(#"[{"hostPort":80,"containerPort":80}]"#), command: "DEL"))
        #expect(host.iptables.calls == ["remove net c1"] && host.nftables.calls == ["remove net c1"])
        // Mappings that do not parse: still removed, never an error.
        try plugin.delete(try request(Self.config(#"[{"hostPort":0}]"#), command: "DEL"))
        #expect(host.iptables.calls.count == 2)
        host.iptables.failCheck = true
        let check = #expect(throws: CNIError.self) {
            try plugin.check(try request(Self.config(#"[{"hostPort":80,"containerPort":80}]"#), command: "CHECK"))
        }
        #expect(check?.code == 103)
        try plugin.garbageCollect(
            try request(
                #"{"cniVersion":"1.1.0","name":"net","type":"portmap","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}"#,
                command: "GC"))
        #expect(host.iptables.calls.last == "gc net [\"a\"]")
    }

    @Test func mappingKeysAsGoSpellsThem() throws {
        let config = try PortmapConfig(
            try NetworkConfig(
                bytes: Array(
                    Self.config(#"[{"HostPort":8080,"ContainerPort":80,"Protocol":"UDP","HostIP":"192.0.2.1"}]"#).utf8))
        )
        #expect(
            config.mappings
                == [PortMapping(hostPort: 8080, containerPort: 80, transport: .udp, hostIP: IPAddress("192.0.2.1"))])
        let reader = ConfigReader(
            try #require(try JSONValue.parse(#"{"A":1,"a":2,"b":3}"#).objectValue), foldsCase: true)
        #expect(reader.value("a")?.intValue == 2 && reader.value("B")?.intValue == 3)
        #expect(ConfigReader(try #require(try JSONValue.parse(#"{"A":1}"#).objectValue)).value("a") == nil)
    }

    @Test func backendsAndTheirOptions() throws {
        func error(_ extra: String) throws -> String? {
            do {
                _ = try PortmapConfig(try NetworkConfig(bytes: Array(Self.config("[]", extra: extra).utf8)))
                return nil
            } catch {
                return error.msg
            }
        }
        #expect(try error(#","conditionsV4":["-s","1.2.3.4"]"#) == nil)
        #expect(try error(#","backend":"nftables","conditionsV4":["ip saddr 1.2.3.4"]"#) == nil)
        #expect(
            try error(#","backend":"nftables","externalSetMarkChain":"KUBE-MARK-MASQ""#)?.contains(
                "externalSetMarkChain") == true)
        #expect(try error(#","conditionsV6":["ip6 saddr ::1"]"#)?.contains("conditionsV6") == true)
        #expect(try error(#","markMasqBit":31"#) == nil)
        #expect(try error(#","externalSetMarkChain":"a b""#)?.contains("externalSetMarkChain") == true)
    }

    /// The iptables rules are upstream's, in `iptables -S`'s own spelling (what CHECK compares).
    @Test func iptablesRulesAsTheReferenceListsThem() throws {
        let request = PortMapRequest(
            network: "net", containerID: "c1",
            mappings: [
                PortMapping(hostPort: 8080, containerPort: 80, transport: .tcp),
                PortMapping(hostPort: 53, containerPort: 53, transport: .udp, hostIP: IPAddress("192.0.2.1")),
                PortMapping(hostPort: 9, containerPort: 9, transport: .tcp, hostIP: IPAddress("fd00::1")),
            ])
        let container = try #require(IPPrefix("10.1.0.5/24"))
        let chain = IptablesPortMapper.attachmentChain(network: "net", containerID: "c1")
        #expect(chain.hasPrefix("CNI-DN-") && chain.count == 28)
        #expect(
            IptablesPortMapper.chainRules(request, container: container) == [
                "-A \(chain) -s 10.1.0.0/24 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK",
                "-A \(chain) -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK",
                "-A \(chain) -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.5:80",
                "-A \(chain) -s 10.1.0.0/24 -d 192.0.2.1/32 -p udp -m udp --dport 53 -j CNI-HOSTPORT-SETMARK",
                "-A \(chain) -s 127.0.0.1/32 -d 192.0.2.1/32 -p udp -m udp --dport 53 -j CNI-HOSTPORT-SETMARK",
                "-A \(chain) -d 192.0.2.1/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.1.0.5:53",
            ])
        #expect(
            IptablesPortMapper.entryRules(request, family: .v4) == [
                #"-A CNI-HOSTPORT-DNAT -m comment --comment "dnat name: \"net\" id: \"c1\"" -m multiport -p tcp --destination-ports 8080,9 -j \#(chain)"#,
                #"-A CNI-HOSTPORT-DNAT -m comment --comment "dnat name: \"net\" id: \"c1\"" -m multiport -p udp --destination-ports 53 -j \#(chain)"#,
            ])
        let many = PortMapRequest(
            network: "n", containerID: "c",
            mappings: (1...16).map { PortMapping(hostPort: UInt16($0), containerPort: 1, transport: .sctp) })
        #expect(IptablesPortMapper.entryRules(many, family: .v6).count == 2, "multiport takes 15 ports a rule")
        #expect(PortMapRequest(network: "n", containerID: "c", mappings: [], markBit: 0).markDefinition == "0x1/0x1")
    }
}
