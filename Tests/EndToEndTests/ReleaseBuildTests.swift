import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What an operator gets: `integration/release.sh` run once (release builds for amd64 and
/// arm64, tarballs, sha256, the installer image index) in a scratch directory of its own, then
/// checked and used as a node would.
final class ReleaseArtifacts: Sendable {
    let root = VMSuiteTests.repositoryRoot
    var scratch: String { root + "/.build-release-check" }
    var dist: String { scratch + "/dist" }
    let version: String
    let buildError: String?

    /// Built once per test run, on first use (Swift's lazy statics are initialised once,
    /// whichever test asks first).
    static let shared = ReleaseArtifacts()

    private init() {
        let root = VMSuiteTests.repositoryRoot
        let scratch = root + "/.build-release-check"
        var text = String(decoding: (try? FileIO.readFile(root + "/Sources/CNI/BuildInfo.swift")) ?? [], as: UTF8.self)
        if let range = text.firstRange(of: "static let version = \"") { text = String(text[range.upperBound...]) }
        version = String(text.prefix { $0 != "\"" })
        let outcome = try? ChildProcess.run(
            "/bin/bash",
            arguments: [
                root + "/integration/release.sh", "--scratch-path", scratch,
                "--dist", scratch + "/dist",
            ],
            environment: ["PATH=/opt/swift/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
            captureStandardError: true)
        if let outcome, outcome.status == 0 {
            buildError = nil
        } else {
            buildError =
                outcome.map { String(decoding: $0.standardError, as: UTF8.self) } ?? "release.sh could not be started"
        }
    }

    var tarball: String { dist + "/" + tarball(arch: "amd64") }
    /// The file name of an architecture's tarball in `dist`.
    func tarball(arch: String) -> String { "swift-cni-\(version)-linux-\(arch).tgz" }
    var image: String { dist + "/swift-cni-\(version)-image.tar" }
    var unstrippedBinary: String { scratch + "/release/swift-cni" }

    func require() throws {
        if let buildError { throw TestbedError(description: "integration/release.sh failed: \(buildError)") }
    }
}

/// The release a node installs: portable, small, versioned, and working end to end.
@Suite(
    .enabled(if: !Testbed.insideVM, "the release is built and checked on the host, not in the VM"),
    .timeLimit(.minutes(20)))
struct ReleaseBuildTests {
    /// The registry's names (`swift-cni --list` of this build): what the release must carry.
    static let names = Testbed.registeredPlugins

    /// The release binary is fully static: no ELF interpreter, no dynamic section (so no
    /// NEEDED library: no glibc or libmnl on the node), and it works in an empty root (a chroot
    /// holding only it, no /proc): VERSION, --version, and host-local's ADD, CHECK and DEL on a
    /// store inside that root.
    @Test func fullyStaticAndRunsInAnEmptyRoot() throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let binary = artifacts.dist + "/bin/macvlan"
        let headers = try Testbed.run(["/usr/bin/readelf", "-l", "-d", binary])
        #expect(!headers.contains("INTERP"), "the binary asks for an ELF interpreter")
        #expect(!headers.contains("(NEEDED)") && headers.contains("There is no dynamic section"), "\(headers)")
        let root = try TemporaryDirectory()
        defer { root.remove() }
        try Testbed.run(["/bin/cp", binary, root.path + "/host-local"])
        try Testbed.run(["/bin/ln", root.path + "/host-local", root.path + "/loopback"])
        func inRoot(_ plugin: String, _ command: String, _ config: String, arguments: [String] = []) throws
            -> ChildProcess.Outcome
        {
            try ChildProcess.run(
                "/usr/sbin/chroot", arguments: [root.path, "/" + plugin] + arguments,
                environment: [
                    "CNI_COMMAND=\(command)", "CNI_CONTAINERID=root1", "CNI_NETNS=/none", "CNI_IFNAME=eth0",
                    "CNI_PATH=/",
                ], input: Array(config.utf8), captureStandardError: true)
        }
        let version = try inRoot("loopback", "VERSION", #"{"cniVersion":"1.1.0"}"#)
        #expect(version.status == 0 && String(decoding: version.standardOutput, as: UTF8.self).contains("1.1.0"))
        let banner = try inRoot("loopback", "", "", arguments: ["--version"])
        #expect(String(decoding: banner.standardOutput, as: UTF8.self).hasPrefix("swift-cni loopback "))
        let config =
            #"{"cniVersion":"1.1.0","name":"rootnet","type":"host-local","ipam":{"type":"host-local","dataDir":"/store","ranges":[[{"subnet":"10.50.0.0/24"}]]}}"#
        for command in ["ADD", "CHECK", "DEL"] {
            let outcome = try inRoot("host-local", command, config)
            #expect(
                outcome.status == 0,
                "\(command) in an empty root: \(String(decoding: outcome.standardOutput + outcome.standardError, as: UTF8.self))"
            )
            if command == "ADD" { #expect(root.files("store/rootnet").contains("10.50.0.2")) }
        }
        #expect(!root.files("store/rootnet").contains("10.50.0.2"), "DEL released the address")
        // No test hook in what a node installs.
        let bytes = try FileIO.readFile(binary, limit: 256 << 20)
        for hook in ["SWIFT_CNI_INJECT_FAILURE", "SWIFT_CNI_IPAM_EXEC"] {
            #expect(bytes.firstRange(of: Array(hook.utf8)) == nil, "the release binary contains the test hook \(hook)")
        }
    }

    /// The checkout has no uncommitted change under Sources or Package.swift: its build is
    /// stamped with the commit alone, and so reproducible.
    static var treeIsClean: Bool {
        let outcome = try? ChildProcess.run(
            "/usr/bin/git",
            arguments: [
                "-C", ReleaseArtifacts.shared.root, "diff", "--quiet", "HEAD", "--", "Sources", "Package.swift",
            ],
            environment: ["PATH=/usr/bin:/bin", "HOME=/root"])
        return outcome?.status == 0
    }

    /// Two builds of one commit, in scratch directories at different paths, give the same
    /// tarballs to the byte, amd64 and arm64 (the same binary, stamped with the commit and its
    /// date; no build-id or module hashes; tar and gzip without times or owners of the build)
    /// and an installer image index with the same digest.
    @Test(
        .enabled(
            if: ReleaseBuildTests.treeIsClean,
            "the tree has uncommitted changes under Sources: reproducibility is checked on a clean checkout (CI)"))
    func aSecondBuildOfTheCommitIsTheSameBytes() throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let scratch = artifacts.root + "/.build-release-repro"
        defer { _ = try? Testbed.run(["/bin/rm", "-rf", scratch]) }
        let outcome = try ChildProcess.run(
            "/bin/bash",
            arguments: [
                artifacts.root + "/integration/release.sh", "--scratch-path", scratch, "--dist", scratch + "/dist",
            ],
            environment: ["PATH=/opt/swift/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
            captureStandardError: true)
        #expect(outcome.status == 0, "\(String(decoding: outcome.standardError, as: UTF8.self).suffix(2000))")
        for arch in ["amd64", "arm64"] {
            let name = artifacts.tarball(arch: arch)
            let first = try FileIO.readFile(artifacts.dist + "/" + name + ".sha256", limit: 4096)
            let second = try FileIO.readFile(scratch + "/dist/" + name + ".sha256", limit: 4096)
            let both = String(decoding: first + second, as: UTF8.self)
            FileIO.writeAll(.standardError, "release: tarball sha256, two builds: \(both)")
            #expect(first == second, "two \(arch) builds of one commit differ")
        }
        // The installer image index: the same digest (creation and file times from the commit).
        let digest = URLPath.lastComponent(artifacts.image).replacing(".tar", with: ".digest")
        let images = try [artifacts.dist, scratch + "/dist"].map {
            String(decoding: try FileIO.readFile($0 + "/" + digest, limit: 4096), as: UTF8.self)
        }
        FileIO.writeAll(.standardError, "release: image index digest, two builds: \(images.joined(separator: " "))")
        #expect(images[0].hasPrefix("sha256:") && images[0] == images[1], "two images of one commit differ: \(images)")
        #expect(
            try FileIO.readFile(artifacts.dist + "/bin/macvlan", limit: 64 << 20)
                == (try FileIO.readFile(scratch + "/dist/bin/macvlan", limit: 64 << 20)))
    }

    /// The tarball verifies against its sha256, unpacks to the bin dir layout with one file
    /// hard-linked under the registry's names and nothing else (no benchmark driver), in at most
    /// 12 MiB, each saying which it is.
    @Test func tarballLayoutSizeAndVersion() throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let check = try ChildProcess.run(
            "/bin/sh",
            arguments: [
                "-c", #"cd "$0" && sha256sum -c "$1""#, artifacts.dist,
                URLPath.lastComponent(artifacts.tarball) + ".sha256",
            ],
            environment: ["PATH=/usr/bin:/bin"], captureStandardError: true)
        #expect(check.status == 0, "\(String(decoding: check.standardOutput + check.standardError, as: UTF8.self))")
        let unpacked = try UnpackedRelease(artifacts)
        defer { unpacked.remove() }
        var inodes = Set<UInt64>()
        for name in Self.names {
            var info = stat()
            #expect(stat(unpacked.bin + "/" + name, &info) == 0, "\(name) missing")
            inodes.insert(UInt64(info.st_ino))
            let version = try ChildProcess.run(unpacked.bin + "/" + name, arguments: ["--version"], environment: [])
            let text = String(decoding: version.standardOutput, as: UTF8.self)
            #expect(
                version.status == 0 && text.hasPrefix("swift-cni \(name) \(artifacts.version) ("), "\(name): \(text)")
            #expect(!text.contains("unknown commit"), "the release is stamped with its commit: \(text)")
            #expect(text.contains("1.1.0"))
        }
        #expect(inodes.count == 1, "the names are hard links of one file")
        let size =
            Int(try Testbed.run(["/usr/bin/du", "-sb", unpacked.bin]).split(separator: "\t").first ?? "") ?? .max
        FileIO.writeAll(
            .standardError, "release: installed bin dir \(size) bytes for \(Self.names.count) names (goal 12582912)\n")
        #expect(size <= 12 << 20, "bin dir is \(size) bytes")
        for file in [
            "install.sh", "LICENSE", "NOTICE", "CHANGELOG.md", "README.md", "systemd/swift-cni-dhcp.service",
            "docs/dhcp-protocol.md", "deploy/kubernetes/installer-daemonset.yaml", "conf-examples/README.md",
        ] {
            #expect(access(unpacked.root + "/" + file, F_OK) == 0, "\(file) missing from the tarball")
        }
        // The benchmark driver is not part of the product: no file of the tarball is it or
        // comes from bench/, and bin/ holds the registry's names and nothing else.
        let listing = try Testbed.run(["/bin/tar", "-tzf", artifacts.tarball]).split(separator: "\n")
        let benchFiles = listing.filter { $0.contains("cni-bench") || $0.contains("/bench/") }
        #expect(benchFiles.isEmpty, "the tarball carries the benchmark: \(benchFiles)")
        #expect(Self.names.count >= 8 && Set(Self.names).count == Self.names.count, "registry: \(Self.names)")
        #expect(Directory.entryNames(atPath: unpacked.bin).sorted() == Self.names.sorted())
        let unknown = try ChildProcess.run(
            "/bin/sh",
            arguments: [
                "-c", "ln -s \"$0/macvlan\" \"$0/../no-such-plugin\" && exec \"$0/../no-such-plugin\"", unpacked.bin,
            ],
            environment: [], captureStandardError: true)
        #expect(unknown.status == 1)
        #expect(String(decoding: unknown.standardError, as: UTF8.self).contains("\"no-such-plugin\" is none of them"))
    }

    /// The end-to-end suites of the plugins a node runs, run again (this same test bundle)
    /// against the unpacked tarball: the multi-call layout, in-process IPAM included.
    @Test func endToEndSuitesPassAgainstTheTarball() throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let unpacked = try UnpackedRelease(artifacts)
        defer { unpacked.remove() }
        let bundle = try #require(CurrentExecutable.path)
        let suites = [
            "MacvlanEndToEndTests", "MacvlanModesTests", "BridgeEndToEndTests", "HostLocalEndToEndTests",
            "DHCPEndToEndTests", "LoopbackTests", "ProtocolEndToEndTests", "KilledAddTests",
        ]
        var arguments = ["--testing-library", "swift-testing"]
        for suite in suites { arguments += ["--filter", suite] }
        let outcome = try ChildProcess.run(
            bundle, arguments: arguments,
            environment: ["SWIFT_CNI_BIN=\(unpacked.bin)", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
            captureStandardError: true)
        let report = String(decoding: outcome.standardOutput + outcome.standardError, as: UTF8.self)
        let summary = report.split(separator: "\n").last { $0.contains("Test run with") } ?? "no summary"
        FileIO.writeAll(.standardError, "release: suites against the tarball's bin dir: \(summary)\n")
        // Every recorded issue, wherever it stands in the report (the tail alone may hold only
        // the summaries), then the tail.
        let issues = report.split(separator: "\n").filter { $0.contains("✘") && $0.contains("recorded an issue") }
        #expect(
            outcome.status == 0,
            "suites failed against the tarball:\n\(issues.joined(separator: "\n"))\n…\n\(report.suffix(3000))")
        #expect(summary.contains("passed") && !summary.contains("with 0 tests"), "\(summary)")
    }
}

/// The tarball unpacked into a fresh directory.
struct UnpackedRelease {
    let directory: String
    let root: String
    var bin: String { root + "/bin" }

    init(_ artifacts: ReleaseArtifacts) throws {
        var template = Array("/tmp/swift-cni-release-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw TestbedError(description: "mkdtemp")
        }
        directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        try Testbed.run(["/bin/tar", "-xzf", artifacts.tarball, "-C", directory])
        root = directory + "/swift-cni-\(artifacts.version)"
    }

    func remove() { _ = try? Testbed.run(["/bin/rm", "-rf", directory]) }
}

enum URLPath {
    static func lastComponent(_ path: String) -> String { path.split(separator: "/").last.map(String.init) ?? path }
}
