import JSON
import ProcessRunner
import Testing

/// The release build a node installs (integration/build-release.sh) links the Swift runtime
/// in and needs nothing but glibc and libmnl, and those binaries work end to end.
@Suite struct ReleaseBuildTests {
    @Test(.enabled(if: !Testbed.insideVM), .timeLimit(.minutes(20)))
    func releaseBinariesNeedOnlyGlibcAndLibmnlAndWork() throws {
        let root = VMSuiteTests.repositoryRoot
        let scratch = root + "/.build-release-check"
        let build = try ChildProcess.run("/bin/bash", arguments: [root + "/integration/build-release.sh", "--scratch-path", scratch],
                                         environment: ["PATH=/opt/swift/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
                                         captureStandardError: true)
        try #require(build.status == 0, "\(String(decoding: build.standardError, as: UTF8.self))")
        let bin = scratch + "/release"
        let allowed: Set<String> = ["libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2", "libmnl.so.0"]
        for plugin in ["macvlan", "ipvlan", "vlan", "bridge", "host-local", "static"] {
            let dynamic = try Testbed.run(["/usr/bin/readelf", "-d", bin + "/" + plugin])
            let needed = Set(dynamic.split(separator: "\n").filter { $0.contains("(NEEDED)") }.compactMap { line -> String? in
                guard let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else { return nil }
                return String(line[line.index(after: open)..<close])
            })
            #expect(needed.isSubset(of: allowed), "\(plugin) needs \(needed.subtracting(allowed))")
            #expect(!needed.isEmpty)
        }
        let bed = try Testbed()
        defer { bed.tearDown() }
        let host = try bed.hostWithUplink()
        let container = try bed.namespace("c")
        let config = #"{"cniVersion":"1.1.0","name":"rel","type":"macvlan","master":"up0","ipam":{"type":"static","addresses":[{"address":"10.12.0.2/24"}]}}"#
        let env = ["CNI_PATH": bin]
        let version = try ChildProcess.run(bin + "/macvlan", environment: ["CNI_COMMAND=VERSION"], input: Array(#"{"cniVersion":"1.1.0"}"#.utf8))
        #expect(version.status == 0)
        let add = try bed.plugin("macvlan", "ADD", config: config, host: host, netns: bed.path(container), environment: env, binDirectory: bin)
        #expect(add.status == 0, "\(add.output)")
        #expect(try bed.ipJSON(container, "addr", "show", "eth0").arrayValue?.first?["addr_info"]?.arrayValue?.contains { $0["local"] == "10.12.0.2" } == true)
        #expect(try bed.plugin("macvlan", "DEL", config: config, host: host, netns: bed.path(container), environment: env, binDirectory: bin).status == 0)
        #expect(try bed.linkNames(container) == ["lo"])
    }
}
