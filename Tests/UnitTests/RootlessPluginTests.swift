import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The suites of the plugins' decisions need no privilege: the main plugins' logic against the
/// fake host, and host-local's config, allocator and index on a store in /tmp. This runs them
/// again as `nobody` (uid 65534, no capabilities) from a copy of this test bundle, and fails if
/// any of them needed root.
@Suite struct RootlessPluginTests {
    @Test func pluginLogicSuitesPassAsNobody() throws {
        guard getuid() == 0 else {
            print("RootlessPluginTests: not root, so every suite runs unprivileged already; nothing to prove here")
            return
        }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        chmod(directory.path, 0o755)
        let bundle = directory.path + "/tests.xctest"
        // This process's executable (cp would resolve /proc/self/exe to itself).
        var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &target, target.count - 1)
        try #require(length > 0, "cannot read /proc/self/exe")
        let executable = String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let copy = try ChildProcess.run(
            "/bin/cp", arguments: [executable, bundle], environment: [], captureStandardError: true)
        try #require(
            copy.status == 0, "cannot copy the test bundle: \(String(decoding: copy.standardError, as: UTF8.self))")
        let outcome = try ChildProcess.run(
            "/usr/bin/setpriv",
            arguments: [
                "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                bundle, "--testing-library", "swift-testing", "--filter",
                "LogicTests|HostLocalConfigTests|HostLocalAllocatorTests|HostLocalIndex|IndexSeal",
            ],
            environment: ["PATH=/usr/bin:/bin", "HOME=/nonexistent", "NO_COLOR=1"], captureStandardError: true)
        let output = String(decoding: outcome.standardOutput + outcome.standardError, as: UTF8.self)
        let summary = output.split(separator: "\n").last { $0.contains("Test run with") } ?? "no summary"
        print("RootlessPluginTests, as nobody: \(summary)")
        #expect(outcome.status == 0, "\(output.suffix(3000))")
        #expect(summary.contains("passed") && !summary.contains("with 0 tests"), "\(summary)")
    }
}
