import JSON
import POSIX
import TestSupport
import Testing

/// Every config in conf-examples/ works: ADD into a fresh container, the interface is there
/// with the configured addresses, DEL removes it.
@Suite struct ConfExamplesTests {
    static let directory = VMSuiteTests.repositoryRoot + "/conf-examples"

    static var files: [String] {
        (try? Testbed.run(["/usr/bin/find", directory, "-maxdepth", "1", "-name", "*.conf"]))?
            .split(separator: "\n").map(String.init).sorted() ?? []
    }

    @Test func thereAreExamples() {
        #expect(ConfExamplesTests.files.count >= 3)
    }

    /// Plugins whose link kinds the CI host's kernel lacks: their examples run in the VM.
    static let vmOnlyTypes: Set<String> = ["ipvlan", "vlan"]

    @Test(arguments: files)
    func exampleWorks(_ file: String) throws {
        let original = try String(contentsOfProcFile: file)
        let config = try JSONValue.parse(original)
        let needsVM = Self.vmOnlyTypes.contains(config["type"]?.stringValue ?? "")
        guard needsVM == Testbed.insideVM else {
            if needsVM {
                FileIO.writeAll(
                    .standardError,
                    "ConfExamplesTests: \(file) runs in the VM suite (the host kernel lacks its link type)\n")
            }
            return
        }
        let bed = try Testbed()
        defer { bed.tearDown() }
        // A dhcp example gets a dnsmasq and a daemon of its own; the others a host with up0.
        let usesDHCP = config["ipam"]?["type"] == "dhcp"
        let lab = usesDHCP ? try DHCPLab(bed) : nil
        defer { lab?.tearDown() }
        let host = try lab?.host ?? bed.hostWithUplink()
        let container = try bed.namespace("c")
        let type = try #require(config["type"]?.stringValue)

        // Each example's host-local store is private to the test.
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var text = original.replacingFirst("/run/swift-cni-examples", with: dir.path)
        if let lab { text = text.replacingFirst("/run/cni/dhcp.sock", with: lab.socketPath) }
        let add = try bed.plugin(type, "ADD", config: text, host: host, netns: bed.path(container))
        #expect(add.status == 0, "\(file): \(add.output)")
        let addresses =
            try bed.ipJSON(container, "addr", "show", "eth0").arrayValue?.first?["addr_info"]?.arrayValue ?? []
        var configured = config["ipam"]?["addresses"]?.arrayValue?.compactMap { $0["address"]?.stringValue } ?? []
        configured += add.json?["ips"]?.arrayValue?.compactMap { $0["address"]?.stringValue } ?? []
        for address in configured {
            let parts = address.split(separator: "/")
            #expect(
                addresses.contains {
                    $0["local"]?.stringValue == String(parts[0]) && $0["prefixlen"]?.intValue == Int(parts[1])
                },
                "\(file): \(address) is not on eth0")
        }
        if let mtu = config["mtu"]?.intValue {
            #expect(try bed.ipJSON(container, "link", "show", "eth0").arrayValue?.first?["mtu"]?.intValue == mtu)
        }
        let del = try bed.plugin(type, "DEL", config: text, host: host, netns: bed.path(container))
        #expect(del.status == 0, "\(file): \(del.output)")
        #expect(try bed.linkNames(container) == ["lo"])
    }
}
