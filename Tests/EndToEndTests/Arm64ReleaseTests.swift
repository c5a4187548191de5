import JSON
import POSIX
import ProcessRunner
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The arm64 half of the release (cross-built on this amd64 machine by
/// integration/cross/build-static-arm64.sh, Debian 13's swiftlang 6.0.3 in a trixie chroot):
/// a fully static aarch64 binary, its tarball, its image in the index, and the plugin suite
/// run with it on Debian's arm64 kernel in a qemu-system-aarch64 VM. A VM that cannot boot, or a
/// cross-build that cannot be made, fails these tests: they are never skipped silently.
@Suite(
    .enabled(if: !Testbed.insideVM, "the release is built and checked on the host, not in the VM"),
    .timeLimit(.minutes(20)))
struct Arm64ReleaseTests {
    /// No ELF interpreter, no dynamic section, an aarch64 executable; under qemu-aarch64 (user
    /// mode) it answers --version with the release's version and commit, and VERSION.
    @Test func theArm64BinaryIsFullyStaticAndRuns() throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let binary = artifacts.dist + "/bin-arm64/macvlan"
        let headers = try Testbed.run(["/usr/bin/readelf", "-h", "-l", "-d", binary])
        #expect(headers.contains("AArch64"), "not an aarch64 executable: \(headers.prefix(600))")
        #expect(!headers.contains("INTERP"), "the binary asks for an ELF interpreter")
        #expect(!headers.contains("(NEEDED)") && headers.contains("There is no dynamic section"), "\(headers)")
        let banner = try ChildProcess.run(
            "/usr/bin/qemu-aarch64-static", arguments: ["-0", "loopback", binary, "--version"], environment: [],
            captureStandardError: true)
        let text = String(decoding: banner.standardOutput, as: UTF8.self)
        #expect(banner.status == 0 && text.hasPrefix("swift-cni loopback \(artifacts.version) ("), "\(text)")
        #expect(!text.contains("unknown commit"), "the release is stamped with its commit: \(text)")
        let version = try ChildProcess.run(
            "/usr/bin/qemu-aarch64-static", arguments: ["-0", "host-local", binary],
            environment: ["CNI_COMMAND=VERSION"], input: Array(#"{"cniVersion":"1.1.0"}"#.utf8))
        #expect(String(decoding: version.standardOutput, as: UTF8.self).contains("\"1.1.0\""))
        let bytes = try FileIO.readFile(binary, limit: 256 << 20)
        for hook in ["SWIFT_CNI_INJECT_FAILURE", "SWIFT_CNI_IPAM_EXEC"] {
            #expect(bytes.firstRange(of: Array(hook.utf8)) == nil, "the release binary contains the test hook \(hook)")
        }
    }

    /// The arm64 tarball verifies against its sha256 and holds the same layout as amd64's: one
    /// file under the eight names, the installer, deploy/ and conf-examples/, within 12 MiB.
    @Test func theArm64TarballHasTheReleaseLayout() throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let tarball = artifacts.tarball(arch: "arm64")
        let check = try ChildProcess.run(
            "/bin/sh", arguments: ["-c", #"cd "$0" && sha256sum -c "$1""#, artifacts.dist, tarball + ".sha256"],
            environment: ["PATH=/usr/bin:/bin"], captureStandardError: true)
        #expect(check.status == 0, "\(String(decoding: check.standardOutput + check.standardError, as: UTF8.self))")
        let listing = try Testbed.run(["/bin/tar", "-tvzf", artifacts.dist + "/" + tarball])
        let base = "swift-cni-\(artifacts.version)/"
        for name in ReleaseBuildTests.names {
            #expect(listing.contains(base + "bin/" + name), "\(name) missing from the arm64 tarball")
        }
        // tar lists a hard link as "name link to first": every name but the first.
        #expect(
            listing.split(separator: "\n").filter { $0.contains(" link to ") }.count == ReleaseBuildTests.names.count
                - 1,
            "\(listing)")
        for file in ["install.sh", "NOTICE", "deploy/kubernetes/kustomization.yaml", "conf-examples/README.md"] {
            #expect(listing.contains(base + file), "\(file) missing from the arm64 tarball")
        }
        var info = stat()
        #expect(stat(artifacts.dist + "/bin-arm64/macvlan", &info) == 0)
        FileIO.writeAll(.standardError, "release: arm64 binary \(info.st_size) bytes\n")
        #expect(Int(info.st_size) <= 12 << 20)
    }

    /// The installer image is an index with one image per architecture, each of its own
    /// architecture (the config says so), named localhost/swift-cni:<version>.
    @Test func theImageIsAnIndexOfBothArchitectures() throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let top = try JSONValue.parse(try Testbed.run(["/bin/tar", "-xOf", artifacts.image, "index.json"]))
        let entry = try #require(top["manifests"]?.arrayValue?.first)
        #expect(
            entry["annotations"]?["org.opencontainers.image.ref.name"]?.stringValue
                == "localhost/swift-cni:\(artifacts.version)")
        #expect(entry["mediaType"]?.stringValue == "application/vnd.oci.image.index.v1+json")
        func blob(_ digest: String?) throws -> JSONValue {
            let name = "blobs/sha256/" + (digest ?? "").replacing("sha256:", with: "")
            return try JSONValue.parse(try Testbed.run(["/bin/tar", "-xOf", artifacts.image, name]))
        }
        let index = try blob(entry["digest"]?.stringValue)
        var platforms: [String] = []
        for manifest in index["manifests"]?.arrayValue ?? [] {
            let platform = manifest["platform"]
            let architecture = platform?["architecture"]?.stringValue ?? "?"
            platforms.append((platform?["os"]?.stringValue ?? "?") + "/" + architecture)
            let config = try blob(try blob(manifest["digest"]?.stringValue)["config"]?["digest"]?.stringValue)
            #expect(config["architecture"]?.stringValue == architecture, "the \(architecture) image's config")
            #expect(
                config["config"]?["Labels"]?["org.opencontainers.image.version"]?.stringValue == artifacts.version)
        }
        #expect(platforms.sorted() == ["linux/amd64", "linux/arm64"], "\(platforms)")
    }

    /// integration/cross/arm64-suite.sh in an arm64 VM (Debian 13's linux-image-arm64 under
    /// qemu-system-aarch64) with the binaries unpacked from the arm64 tarball: macvlan, ipvlan,
    /// vlan and bridge with host-local (ADD, addresses, traffic, CHECK, DEL twice), a bad config,
    /// and a DHCP lease from dnsmasq with its RELEASE.
    @Test func thePluginSuitePassesOnAnArm64Kernel() throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        // Unpacked inside the checkout: the VM sees the current directory, not /tmp.
        let unpacked = artifacts.scratch + "/arm64-unpacked"
        _ = try? Testbed.run(["/bin/rm", "-rf", unpacked])
        try Testbed.run(["/bin/mkdir", "-p", unpacked])
        defer { _ = try? Testbed.run(["/bin/rm", "-rf", unpacked]) }
        try Testbed.run(["/bin/tar", "-xzf", artifacts.dist + "/" + artifacts.tarball(arch: "arm64"), "-C", unpacked])
        let bin = unpacked + "/swift-cni-\(artifacts.version)/bin"
        let script =
            #"cd "$0" && VM_ARCH=arm64 exec bash integration/vm-run.sh "bash integration/cross/arm64-suite.sh $1""#
        let outcome = try ChildProcess.run(
            "/bin/bash", arguments: ["-c", script, artifacts.root, bin],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"], captureStandardError: true)
        let report = String(decoding: outcome.standardOutput + outcome.standardError, as: UTF8.self)
        FileIO.writeAll(.standardError, "---- arm64 VM suite ----\n\(report)---- end of arm64 VM suite ----\n")
        #expect(outcome.status != 125, "the arm64 VM did not boot or failed")
        #expect(outcome.status == 0, "the arm64 suite failed")
        let summary = report.split(separator: "\n").last { $0.hasPrefix("# arm64 suite: ") } ?? ""
        let passed = Int(summary.split(separator: " ").dropFirst(3).first ?? "") ?? 0
        #expect(summary.hasSuffix(" 0 failed") && passed >= 50, "the suite did not run whole: \(summary)")
    }
}
