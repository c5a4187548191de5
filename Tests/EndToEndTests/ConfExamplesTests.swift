import JSON
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

    @Test(arguments: files)
    func exampleWorks(_ file: String) throws {
        let text = try String(contentsOfProcFile: file)
        let config = try JSONValue.parse(text)
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        let container = try bed.namespace("c")
        let type = try #require(config["type"]?.stringValue)

        let add = try bed.plugin(type, "ADD", config: text, host: host, netns: bed.path(container))
        #expect(add.status == 0, "\(file): \(add.output)")
        let addresses = try bed.ipJSON(container, "addr", "show", "eth0").arrayValue?.first?["addr_info"]?.arrayValue ?? []
        let configured = config["ipam"]?["addresses"]?.arrayValue?.compactMap { $0["address"]?.stringValue } ?? []
        for address in configured {
            let parts = address.split(separator: "/")
            #expect(addresses.contains { $0["local"]?.stringValue == String(parts[0]) && $0["prefixlen"]?.intValue == Int(parts[1]) },
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
