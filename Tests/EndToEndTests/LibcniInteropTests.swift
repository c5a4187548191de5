import JSON
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Our binaries driven by libcni itself (Debian's golang-github-appc-cni-dev 1.1.2, the
/// library inside Podman, containerd and CRI-O) through integration/libcni-driver: VERSION
/// checks, conflist handling, result caching, CHECK and DEL with the cached result.
@Suite(.enabled(if: !Testbed.insideVM))
struct LibcniInteropTests {
    /// Builds the driver once per test process (offline, from Debian's Go packages).
    static let driver: Result<String, TestbedError> = {
        guard access("/usr/bin/go", X_OK) == 0,
            access("/usr/share/gocode/src/github.com/containernetworking/cni/libcni", F_OK) == 0
        else {
            return .failure(
                TestbedError(
                    description:
                        "libcni interop needs golang-go and golang-github-appc-cni-dev (integration/install-deps.sh installs them)"
                ))
        }
        let output = "/tmp/swift-cni-libcni-driver-\(getpid())"
        do {
            try Testbed.run([
                "/usr/bin/env", "GO111MODULE=off", "GOPATH=/tmp/swift-cni-gopath:/usr/share/gocode", "GOPROXY=off",
                "CGO_ENABLED=0", "GOCACHE=/tmp/swift-cni-gocache", "HOME=/tmp", "/usr/bin/go", "build", "-o", output,
                VMSuiteTests.repositoryRoot + "/integration/libcni-driver/main.go",
            ])
            return .success(output)
        } catch let error as TestbedError {
            return .failure(error)
        } catch {
            return .failure(TestbedError(description: "\(error)"))
        }
    }()

    /// Runs the driver in `host`; `capabilities` is its CAP_ARGS (the runtime's capability
    /// arguments, as containerd passes port mappings).
    static func drive(
        _ verb: String, _ list: String, host: String, netns: String, containerID: String, cache: String,
        capabilities: String? = nil
    ) throws -> (Int32, String, String) {
        let driver = try Self.driver.get()
        let outcome = try ChildProcess.run(
            "/usr/sbin/ip",
            arguments: [
                "netns", "exec", host, driver, verb, list, netns, containerID, "eth0",
                Testbed.binDirectory, cache,
            ],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"] + (capabilities.map { ["CAP_ARGS=\($0)"] } ?? []),
            captureStandardError: true)
        return (
            outcome.status, String(decoding: outcome.standardOutput, as: UTF8.self),
            String(decoding: outcome.standardError, as: UTF8.self)
        )
    }

    @Test(arguments: [
        (
            "1.0.0",
            #"{"type":"macvlan","master":"up0","ipam":{"type":"host-local","dataDir":"STORE","ranges":[[{"subnet":"10.44.0.0/24"}]]}}"#
        ),
        (
            "0.4.0",
            #"{"type":"bridge","bridge":"br9","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","dataDir":"STORE","ranges":[[{"subnet":"10.45.0.0/24"}]]}}"#
        ),
        (
            "0.3.1",
            #"{"type":"macvlan","master":"up0","mode":"private","ipam":{"type":"static","addresses":[{"address":"10.46.0.9/24"}]}}"#
        ),
    ])
    func addCheckDelThroughLibcni(_ version: String, _ plugin: String) throws {
        let bed = try Testbed()
        defer { bed.tearDown() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let host = try bed.hostWithUplink()
        let container = try bed.namespace("c")
        let list = dir.path + "/net.conflist"
        dir.write(
            "net.conflist",
            #"{"cniVersion":"\#(version)","name":"lcnet","plugins":[\#(plugin.replacingFirst("STORE", with: dir.path + "/store"))]}"#
        )
        let cache = dir.path + "/cache"

        let (added, output, errors) = try Self.drive(
            "add", list, host: host, netns: bed.path(container), containerID: "lc1", cache: cache)
        #expect(added == 0, "\(errors)")
        let result = try JSONValue.parse(output)
        #expect(result["cniVersion"]?.stringValue == version)
        #expect(result["ips"]?.arrayValue?.count == 1)
        #expect(try bed.linkNames(container).contains("eth0"))
        // libcni cached the result it got from us, in its own format.
        let cached = try Testbed.run(["/usr/bin/find", cache, "-type", "f"])
        #expect(cached.contains("lcnet-lc1-eth0"), "\(cached)")

        let (checked, _, checkErrors) = try Self.drive(
            "check", list, host: host, netns: bed.path(container), containerID: "lc1", cache: cache)
        if version == "0.3.1" {
            #expect(checked == 1 && checkErrors.contains("does not support the CHECK command"), "\(checkErrors)")
        } else {
            #expect(checked == 0, "\(checkErrors)")
        }
        let (deleted, _, delErrors) = try Self.drive(
            "del", list, host: host, netns: bed.path(container), containerID: "lc1", cache: cache)
        #expect(deleted == 0, "\(delErrors)")
        #expect(try bed.linkNames(container) == ["lo"])
        #expect(dir.files("store/lcnet").filter { $0.hasPrefix("10.") }.isEmpty)
        // libcni's DEL again, with nothing left: still fine.
        #expect(
            try Self.drive("del", list, host: host, netns: bed.path(container), containerID: "lc1", cache: cache).0 == 0
        )
    }
}
