import POSIX
import ProcessRunner
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Boots Debian's stock kernel once with integration/vm-run.sh and runs every suite that
/// needs a kernel feature this host lacks inside it, with this same test bundle. A VM that
/// cannot boot fails this test: the VM suite is never skipped silently.
@Suite struct VMSuiteTests {
    /// The suites that run inside the VM.
    static let suites = [
        "KernelLinkTests", "IpvlanVlanVMTests", "ConfExamplesTests", "BridgeVLANVMTests", "DHCPVMTests",
        "DHCPv6VMTests",
        "KubernetesVMTests", "FirewalldVMTests",
    ]

    static var repositoryRoot: String {
        // #filePath is Tests/EndToEndTests/VMSuiteTests.swift inside the package.
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) }
        return path
    }

    @Test(.enabled(if: !Testbed.insideVM), .timeLimit(.minutes(20)))
    func kernelSuitesPassInsideTheVM() throws {
        let bundle = try #require(CurrentExecutable.path)
        let filter = VMSuiteTests.suites.map { "--filter '\($0)'" }.joined(separator: " ")
        let command =
            "SWIFT_CNI_IN_VM=1 SWIFT_CNI_BIN='\(Testbed.binDirectory)' '\(bundle)' --testing-library swift-testing \(filter)"
        let runner = VMSuiteTests.repositoryRoot + "/integration/vm-run.sh"
        let outcome = try ChildProcess.run(
            "/bin/bash", arguments: [runner, command],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
            captureStandardError: true)
        let output = String(decoding: outcome.standardOutput, as: UTF8.self)
        let errors = String(decoding: outcome.standardError, as: UTF8.self)
        // On stderr, unbuffered, where Swift Testing reports: so the run still ends with its summary.
        FileIO.writeAll(
            .standardError,
            "---- VM suite output (\(runner)) ----\n\(output)\(errors)---- end of VM suite output ----\n")
        #expect(outcome.status != 125, "the VM did not boot or failed: \(errors)")
        #expect(outcome.status == 0, "the kernel suites failed inside the VM")
        // The inner run must have run tests, not filtered everything away.
        // Swift Testing reports on stderr; the inner run must have run tests, not filtered them all away.
        let report = output + errors
        #expect(
            report.contains("Test run with") && !report.contains("Test run with 0 tests"), "no test ran inside the VM")
        #expect(!report.contains("KernelLinkTests skipped"), "the kernel suites were skipped inside the VM")
    }
}
