import POSIX
import ProcessRunner
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The tree's `.swift-format` is the law: `swift-format lint --strict` over every Swift file of
/// the package (Package.swift, Sources, Tests, bench) must report nothing. A missing swift-format fails the test (it ships with every
/// Swift toolchain since 6.0), so the check is never skipped quietly.
@Suite struct FormatLintTests {
    static var repositoryRoot: String {
        // #filePath is Tests/UnitTests/FormatLintTests.swift inside the package.
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) }
        return path
    }

    /// swift-format beside the `swift` driver on PATH, or in the toolchain at /opt/swift.
    static var swiftFormat: String? {
        let path = (getenv("PATH").map { String(cString: $0) } ?? "") + ":/opt/swift/usr/bin"
        for directory in path.split(separator: ":") {
            let candidate = String(directory) + "/swift-format"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    @Test func theTreeFollowsItsSwiftFormatConfiguration() throws {
        let tool = try #require(Self.swiftFormat, "swift-format is not installed: the formatter check cannot run")
        let root = Self.repositoryRoot
        let outcome = try ChildProcess.run(
            tool,
            arguments: [
                "lint", "--strict", "--recursive", "--configuration", root + "/.swift-format",
                root + "/Package.swift", root + "/Sources", root + "/Tests", root + "/bench",
            ],
            environment: [], captureStandardError: true)
        let findings = String(decoding: outcome.standardError + outcome.standardOutput, as: UTF8.self)
        #expect(
            outcome.status == 0 && findings.isEmpty,
            "swift-format lint found (run `swift format --in-place --recursive Package.swift Sources Tests bench`):\n\(findings)"
        )
    }

    /// No Swift file in Sources/ is over 400 lines: a file that grows past it is split by what
    /// its parts do (as LeaseManager's records, persistence, log and exchange were).
    @Test func noSourceFileIsOver400Lines() throws {
        let root = Self.repositoryRoot
        let outcome = try ChildProcess.run(
            "/usr/bin/find", arguments: [root + "/Sources", "-name", "*.swift", "-type", "f"], environment: [])
        let files = String(decoding: outcome.standardOutput, as: UTF8.self).split(separator: "\n")
        #expect(files.count > 50, "the sources were found")
        for file in files {
            let bytes = try FileIO.readFile(String(file))
            let lines = bytes.count { $0 == UInt8(ascii: "\n") }
            #expect(lines <= 400, "\(file) has \(lines) lines")
        }
    }
}
