import CNI
import TestSupport
import Testing

@testable import Plugins

/// tuning's config without a kernel: key paths, the allowlist, the saved file's format.
struct TuningConfigTests {
    @Test func keysStayInTheContainersNetTree() throws {
        #expect(
            try TuningConfig.key("net.ipv4.conf.IFNAME.arp_ignore", ifName: "net1.100")
                == "net/ipv4/conf/net1.100/arp_ignore")
        #expect(try TuningConfig.key("net/core/somaxconn", ifName: "eth0") == "net/core/somaxconn")
        for bad in ["kernel.hostname", "net", "net..core", "net/../kernel", "net/./core", "/net/core", "net.core."] {
            #expect(throws: CNIError.self, "\(bad)") { try TuningConfig.key(bad, ifName: "eth0") }
        }
    }

    @Test func theAllowlistIsHonouredWhenPresent() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        dir.write("allowlist.conf", "^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]*$\n\n  ^net\\.core\\.somaxconn$  \n")
        let path = dir.path + "/allowlist.conf"
        try TuningConfig.checkAllowlist(["net.core.somaxconn", "net.ipv4.conf.IFNAME.arp_ignore"], path: path)
        #expect(throws: CNIError.self) { try TuningConfig.checkAllowlist(["net.ipv4.ip_forward"], path: path) }
        try TuningConfig.checkAllowlist(["net.ipv4.ip_forward"], path: dir.path + "/missing")
        dir.write("bad.conf", "net.(\n")
        #expect(throws: CNIError.self) { try TuningConfig.checkAllowlist(["net.x"], path: dir.path + "/bad.conf") }
    }

    /// Go's MarshalIndent(config, "", " ") of upstream's configToRestore, field for field.
    @Test func savedSettingsAreUpstreamsFile() throws {
        let saved = SavedLinkSettings(
            mac: .init("02:00:00:00:00:01"), promiscuous: false, mtu: 1500, allMulticast: true,
            transmitQueueLength: 1000)
        #expect(
            saved.json
                == "{\n \"mac\": \"02:00:00:00:00:01\",\n \"promisc\": false,\n \"mtu\": 1500,\n \"allmulti\": true,\n \"txQLen\": 1000\n}"
        )
        #expect(SavedLinkSettings(json: Array(saved.json.utf8)) == saved)
        #expect(SavedLinkSettings(mtu: 9000).json == "{\n \"mtu\": 9000\n}")
        #expect(SavedLinkSettings(json: Array("[]".utf8)) == nil)
    }
}
