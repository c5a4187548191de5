import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// host-local's store under faults and hostile contents: large attachments, long container
/// ids, planted symlinks, FIFOs and directories, a read-only and a full filesystem. The binary
/// runs as a runtime runs it; nothing it must not touch is touched, nothing hangs.
@Suite struct StoreFaultTests {
    static func config(_ store: String, network: String = "sf", ranges: String = #"[[{"subnet":"10.70.0.0/24"}]]"#)
        -> String
    {
        #"{"cniVersion":"1.1.0","name":"\#(network)","type":"host-local","ipam":{"type":"host-local","dataDir":"\#(store)","ranges":\#(ranges)}}"#
    }

    /// host-local run directly (it never enters CNI_NETNS), with the config on stdin.
    static func hostLocal(
        _ command: String, _ config: String, containerID: String = "c1", ifName: String = "eth0",
        wrapper: [String] = []
    ) throws -> PluginOutcome {
        let env = [
            "CNI_COMMAND=\(command)", "CNI_CONTAINERID=\(containerID)", "CNI_NETNS=/run/netns/none",
            "CNI_IFNAME=\(ifName)", "CNI_PATH=\(Testbed.binDirectory)", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        let binary = Testbed.binDirectory + "/host-local"
        let arguments = wrapper.isEmpty ? [] : Array(wrapper.dropFirst()) + [binary]
        let outcome = try ChildProcess.run(
            wrapper.first ?? binary, arguments: arguments, environment: env, input: Array(config.utf8))
        return PluginOutcome(status: outcome.status, output: String(decoding: outcome.standardOutput, as: UTF8.self))
    }

    /// Address files left in the network directory (what an operator counts).
    static func reservations(_ store: TemporaryDirectory, _ network: String = "sf") -> [String] {
        store.files(network).filter { $0 != "lock" && !$0.hasPrefix("last_reserved_ip") }
    }

    /// Defect 2: the index of an attachment with more than 4 KiB of addresses was read only
    /// up to 4 KiB, so DEL released ~330 of 400 and said it succeeded.
    @Test func thousandRangeSetsAreAllReleased() throws {
        let store = try TemporaryDirectory()
        defer { store.remove() }
        let ranges =
            "[" + (0..<1000).map { #"[{"subnet":"10.\#(100 + $0 / 250).\#($0 % 250).0/30"}]"# }.joined(separator: ",")
            + "]"
        let config = Self.config(store.path, ranges: ranges)
        let add = try Self.hostLocal("ADD", config)
        #expect(add.status == 0, "\(add.output.prefix(300))")
        #expect(Self.reservations(store).count == 1000)
        let del = try Self.hostLocal("DEL", config)
        #expect(del.status == 0, "\(del.output)")
        #expect(Self.reservations(store).isEmpty, "left after DEL: \(Self.reservations(store).count)")
        #expect(store.indexEntries("sf").isEmpty)
    }

    /// Defect 3: a container id of more than 4 KiB made the reservation file unreadable past
    /// 4 KiB, so DEL never matched it.
    @Test func longContainerIdIsReleased() throws {
        let store = try TemporaryDirectory()
        defer { store.remove() }
        let id = String(repeating: "a1b2c3d4", count: 700)
        let add = try Self.hostLocal("ADD", Self.config(store.path), containerID: id)
        #expect(add.status == 0, "\(add.output)")
        #expect(Self.reservations(store).count == 1)
        let del = try Self.hostLocal("DEL", Self.config(store.path), containerID: id)
        #expect(del.status == 0, "\(del.output)")
        #expect(Self.reservations(store).isEmpty)
    }

    /// Defects 10 and 13: a symlink planted where our index writes its temporary file, and one
    /// at last_reserved_ip.0, are replaced, never written through; DEL removes a temporary
    /// index file left by a killed ADD.
    @Test func plantedSymlinksAreNeverFollowed() throws {
        let store = try TemporaryDirectory()
        defer { store.remove() }
        store.write("target", "precious")
        try Directory.create(store.path + "/sf")
        try Directory.create(store.path + "/.swift-cni-index/sf")
        #expect(symlink(store.path + "/target", store.path + "/sf/last_reserved_ip.0") == 0)
        let bucket = TemporaryDirectory.indexBucket(of: "c1:eth0")
        #expect(symlink(store.path + "/target", store.path + "/.swift-cni-index/sf/\(bucket).tmp") == 0)
        let add = try Self.hostLocal("ADD", Self.config(store.path))
        #expect(add.status == 0, "\(add.output)")
        #expect(store.read("target") == "precious")
        #expect(store.read("sf/last_reserved_ip.0") == "10.70.0.2")
        // A temporary index file of a killed ADD: DEL takes it away with the entry.
        store.write(".swift-cni-index/sf/\(bucket).tmp", "c1:eth0 10.70.0.2")
        let del = try Self.hostLocal("DEL", Self.config(store.path))
        #expect(del.status == 0, "\(del.output)")
        #expect(store.indexEntries("sf").isEmpty)
        #expect(store.read("target") == "precious")
    }

    /// Defect 11 and FIFOs: a FIFO named like the next free address is skipped by ADD without
    /// blocking; a directory named like an address does not make GC fail; GC removes the
    /// stale reservation and leaves both alien entries alone.
    @Test func aliensInTheStoreDoNotBlockAddOrGC() throws {
        let store = try TemporaryDirectory()
        defer { store.remove() }
        try Directory.create(store.path + "/sf")
        #expect(mkfifo(store.path + "/sf/10.70.0.2", 0o644) == 0)
        #expect(mkdir(store.path + "/sf/10.70.0.9", 0o755) == 0)
        let add = try Self.hostLocal("ADD", Self.config(store.path), containerID: "stale")
        #expect(add.status == 0, "\(add.output)")
        #expect(add.json?["ips"]?.arrayValue?.first?["address"] == "10.70.0.3/24")
        var gcConfig = try JSONValue.parse(Self.config(store.path))
        if case .object(var object) = gcConfig {
            object["cni.dev/valid-attachments"] = [["containerID": "other", "ifname": "eth0"]]
            gcConfig = .object(object)
        }
        let gc = try Self.hostLocal("GC", gcConfig.serialized())
        #expect(gc.status == 0, "GC failed: \(gc.output)")
        #expect(Self.reservations(store).sorted() == ["10.70.0.2", "10.70.0.9"])
    }

    /// Defect 12 and a read-only store: CHECK works, ADD and DEL are code 104 and change
    /// nothing, STATUS is 50. The store is bind-mounted read-only in a private mount namespace.
    @Test func readOnlyStore() throws {
        let store = try TemporaryDirectory()
        defer { store.remove() }
        let config = Self.config(store.path)
        let add = try Self.hostLocal("ADD", config)
        #expect(add.status == 0, "\(add.output)")
        let readOnly = [
            "/usr/bin/unshare", "--mount", "/bin/sh", "-c",
            #"mount --make-rprivate / && mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$1""#,
            store.path,
        ]
        guard let result = add.json else {
            Issue.record("ADD printed no JSON")
            return
        }
        var checkConfig = try JSONValue.parse(config)
        if case .object(var object) = checkConfig {
            object["prevResult"] = result
            checkConfig = .object(object)
        }
        let check = try Self.hostLocal("CHECK", checkConfig.serialized(), wrapper: readOnly)
        #expect(check.status == 0, "CHECK on a read-only store: \(check.output)")
        let second = try Self.hostLocal("ADD", config, containerID: "c2", wrapper: readOnly)
        #expect(second.errorCode == 104, "\(second.output)")
        let del = try Self.hostLocal("DEL", config, wrapper: readOnly)
        #expect(del.errorCode == 104, "\(del.output)")
        let status = try Self.hostLocal("STATUS", config, wrapper: readOnly)
        #expect(status.errorCode == 50, "\(status.output)")
        #expect(Self.reservations(store) == ["10.70.0.2"])
    }

    /// A full filesystem: ADD is 104 and leaves no reservation (the store lives on a 16 KiB
    /// tmpfs filled to the last block, in a private mount namespace).
    @Test func fullStore() throws {
        let store = try TemporaryDirectory()
        defer { store.remove() }
        let script =
            #"mount --make-rprivate / && mount -t tmpfs -o size=16k tmpfs "$0" && mkdir -p "$0/sf" && : > "$0/sf/lock" "#
            + #"&& (dd if=/dev/zero of="$0/fill" bs=4k count=64 2>/dev/null; true) && "$1"; status=$?; "#
            + #"echo; echo ===; ls -A "$0/sf"; exit $status"#
        let outcome = try Self.hostLocal(
            "ADD", Self.config(store.path),
            wrapper: ["/usr/bin/unshare", "--mount", "/bin/sh", "-c", script, store.path])
        let parts = outcome.output.components(separatedBy: "\n===\n")
        #expect(parts.count == 2, "\(outcome.output)")
        let json = try? JSONValue.parse(parts.first ?? "")
        #expect(json?["code"] == 104, "\(outcome.output)")
        let left = (parts.last ?? "").split(separator: "\n").map(String.init).filter {
            $0 != "lock" && !$0.hasPrefix("last_reserved_ip")
        }
        #expect(left.isEmpty, "left on a full store: \(left)")
    }
}

extension String {
    /// The parts between occurrences of `separator` (no Foundation in the tests' imports).
    func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
