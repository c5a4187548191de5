import JSON
import POSIX
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// portmap under a real runtime library: libcni (containerd's, Podman 4's, CRI-O's) runs
/// containerd's default `10-containerd-net.conflist` (bridge `cni0` dual stack + host-local +
/// portmap with the `portMappings` capability) with only our binaries in the plugin path, and
/// the port mappings passed as capability arguments, as containerd's CRI passes a pod's ports.
@Suite(.serialized, .enabled(if: !Testbed.insideVM))
struct PortmapClientTests {
    /// containerd's script/setup/install-cni conflist, with `dataDir` added (the tests' store).
    static func containerdConflist(store: String) -> String {
        #"""
        {
          "cniVersion": "1.0.0",
          "name": "containerd-net",
          "plugins": [
            {
              "type": "bridge",
              "bridge": "cni0",
              "isGateway": true,
              "ipMasq": true,
              "promiscMode": true,
              "ipam": {
                "type": "host-local",
                "dataDir": "\#(store)",
                "ranges": [
                  [{ "subnet": "10.88.0.0/16" }],
                  [{ "subnet": "2001:4860:4860::/64" }]
                ],
                "routes": [
                  { "dst": "0.0.0.0/0" },
                  { "dst": "::/0" }
                ]
              }
            },
            {
              "type": "portmap",
              "capabilities": { "portMappings": true }
            }
          ]
        }
        """#
    }

    @Test func containerdsDefaultChainForwardsHostPortsBothFamilies() throws {
        let node = try PortmapEndToEndTests.Node()
        let list = node.stage.store.path + "/10-containerd-net.conflist"
        node.stage.store.write(
            "10-containerd-net.conflist", Self.containerdConflist(store: node.stage.store.path + "/ipam"))
        let cache = node.stage.store.path + "/cache"
        let capabilities =
            #"{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":5353,"containerPort":53,"protocol":"udp"}]}"#
        try node.startServer(in: node.stage.container, log: node.stage.store.path + "/server.log")
        let (added, output, errors) = try LibcniInteropTests.drive(
            "add", list, host: node.host, netns: node.stage.netns, containerID: "cd1", cache: cache,
            capabilities: capabilities)
        #expect(added == 0, "\(errors)")
        let result = try JSONValue.parse(output)
        let addresses = (result["ips"]?.arrayValue ?? []).compactMap { $0["address"]?.stringValue }
        #expect(addresses == ["10.88.0.2/16", "2001:4860:4860::2/64"], "\(output)")

        #expect(try node.ask(from: node.client, "tcp", "198.51.100.1", 8080) == "198.51.100.2")
        #expect(try node.ask(from: node.client, "udp", "198.51.100.1", 5353) == "198.51.100.2")
        // (3 s: the first SYN to a fresh IPv6 neighbour may be lost while the links settle.)
        let six = try node.ask(from: node.client, "tcp", "2001:db8:1::1", 8080, timeout: 3)
        #expect(six == "2001:db8:1::2", "\(String(describing: six))")
        #expect(try node.ask(from: node.host, "tcp", "127.0.0.1", 8080) == "10.88.0.1")

        let (checked, _, checkErrors) = try LibcniInteropTests.drive(
            "check", list, host: node.host, netns: node.stage.netns, containerID: "cd1", cache: cache,
            capabilities: capabilities)
        #expect(checked == 0, "\(checkErrors)")
        let (deleted, _, deleteErrors) = try LibcniInteropTests.drive(
            "del", list, host: node.host, netns: node.stage.netns, containerID: "cd1", cache: cache,
            capabilities: capabilities)
        #expect(deleted == 0, "\(deleteErrors)")
        let state = try node.firewallState()
        #expect(!state.contains("CNI-DN-") && !state.contains("10.88.0.2") && !state.contains("2001:4860:4860::2"))
        #expect(try node.ask(from: node.client, "tcp", "198.51.100.1", 8080) == nil)
        #expect(try node.bed.linkNames(node.host).filter { $0.hasPrefix("veth") }.isEmpty)
        #expect(
            node.stage.store.files("ipam/containerd-net").filter { $0.hasPrefix("10.") || $0.hasPrefix("2001") }.isEmpty
        )
    }
}
