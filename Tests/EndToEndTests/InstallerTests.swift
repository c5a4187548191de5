import JSON
import POSIX
import ProcessRunner
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `install.sh` and the installer image as an operator runs them on a live node.
@Suite(.enabled(if: !Testbed.insideVM, "the installer is tested on the host, not in the VM"), .timeLimit(.minutes(20)))
struct InstallerTests {
    static let names = ReleaseBuildTests.names

    static func install(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let outcome = try ChildProcess.run(
            "/bin/sh",
            arguments: [artifacts.root + "/integration/install.sh", "--from", artifacts.dist + "/bin"] + arguments,
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], captureStandardError: true)
        return (outcome.status, String(decoding: outcome.standardOutput + outcome.standardError, as: UTF8.self))
    }

    static func inode(_ path: String) -> UInt64? {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : nil
    }

    /// Into an empty dir; again (a no-op: same inodes); over the reference's plugins (ours
    /// replace theirs, their others stay untouched); `--uninstall` takes only ours.
    @Test func installsOverTheReferenceAndUninstallsOnlyOurs() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let dest = dir.path + "/bin"
        let first = try Self.install(["--dest", dest])
        #expect(first.status == 0, "\(first.output)")
        let inodes = Self.names.map { Self.inode(dest + "/" + $0) }
        #expect(Set(inodes).count == 1 && inodes.first != nil, "one file under every name: \(inodes)")
        let size = Int(try Testbed.run(["/usr/bin/du", "-sb", dest]).split(separator: "\t").first ?? "") ?? .max
        #expect(size <= 12 << 20)
        let second = try Self.install(["--dest", dest])
        #expect(second.status == 0 && second.output.contains("nothing to change"), "\(second.output)")
        #expect(Self.names.map { Self.inode(dest + "/" + $0) } == inodes, "a repeated install replaced files")

        // Over the reference plugins.
        let node = dir.path + "/node"
        try Testbed.run(["/bin/cp", "-a", "/usr/lib/cni", node])
        let others = Directory.entryNames(atPath: node).filter { !Self.names.contains($0) }.sorted()
        #expect(
            others.contains("host-device") && others.contains("vrf"),
            "reference plugins we do not have expected in /usr/lib/cni: \(others)")
        let before = others.map { (try? FileIO.readFile(node + "/" + $0)) ?? [] }
        let over = try Self.install(["--dest", node])
        #expect(over.status == 0, "\(over.output)")
        for name in Self.names {
            let text = try ChildProcess.run(node + "/" + name, arguments: ["--version"], environment: [])
            #expect(
                String(decoding: text.standardOutput, as: UTF8.self).hasPrefix("swift-cni \(name) "),
                "\(name) is not ours after install")
        }
        #expect(
            others.map { (try? FileIO.readFile(node + "/" + $0)) ?? [] } == before,
            "the reference's other plugins were changed")
        let removed = try Self.install(["--dest", node, "--uninstall"])
        #expect(removed.status == 0, "\(removed.output)")
        let left = Directory.entryNames(atPath: node).sorted()
        #expect(left == Directory.entryNames(atPath: "/usr/lib/cni").sorted(), "after --uninstall: \(left)")
    }

    /// Every file of a directory: name, mode and content.
    static func snapshot(_ directory: String) throws -> [String] {
        try Testbed.run([
            "/bin/sh", "-c",
            #"cd "$0" && for f in $(ls -A | sort); do stat -c '%n %a %s %Y' "$f"; sha256sum < "$f"; done"#, directory,
        ])
        .split(separator: "\n").map(String.init)
    }

    /// Install over the reference's plugins (a subset, then all), then --uninstall: the
    /// directory is byte for byte what it was (names, modes, times, contents), the reference's
    /// bridge, loopback and host-local back in place. Each replaced name says old -> new.
    @Test func uninstallGivesTheReferencesPluginsBackByteForByte() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let node = dir.path + "/node"
        try Testbed.run(["/bin/cp", "-a", "/usr/lib/cni", node])
        let before = try Self.snapshot(node)
        let some = try Self.install(["--dest", node, "--only", "macvlan,ipvlan,vlan,dhcp"])
        #expect(some.status == 0, "\(some.output)")
        #expect(
            some.output.contains("macvlan: CNI macvlan plugin") && some.output.contains("-> swift-cni 0.2.0"),
            "\(some.output)")
        for name in ["bridge", "loopback", "host-local", "static"] {
            #expect(
                try FileIO.readFile(node + "/" + name) == (try FileIO.readFile("/usr/lib/cni/" + name)),
                "--only touched \(name)")
        }
        #expect(try Self.install(["--dest", node]).status == 0)
        #expect(Directory.entryNames(atPath: node + "/.swift-cni-replaced").sorted() == Self.names.sorted())
        let removed = try Self.install(["--dest", node, "--uninstall"])
        #expect(removed.status == 0 && removed.output.contains("restored"), "\(removed.output)")
        #expect(try Self.snapshot(node) == before, "the directory differs from before the install")
    }

    /// Names, kinds, link targets and contents of a directory, symlinks as themselves.
    static func linkSnapshot(_ directory: String) throws -> [String] {
        try Testbed.run([
            "/bin/sh", "-c",
            #"cd "$0" && for f in $(ls -A | sort); do if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; elif [ -f "$f" ]; then echo "$f $(stat -c %a "$f") $(sha256sum < "$f")"; else echo "$f $(stat -c %F "$f")"; fi; done"#,
            directory,
        ])
        .split(separator: "\n").map(String.init)
    }

    /// What is at a name that is not a plugin file of ours: hidden files of the installer.
    static func leftovers(_ directory: String) -> [String] {
        Directory.entryNames(atPath: directory).filter { $0.hasPrefix(".") && $0 != ".swift-cni-replaced" }
            + Directory.entryNames(atPath: directory + "/.swift-cni-replaced").filter { $0.hasPrefix(".") }
    }

    /// Plugin names that are symlinks (a package manager's; one dangling) are kept as links and
    /// given back as links by --uninstall (e4f2582 gave back regular files and lost the
    /// dangling one).
    @Test func symlinkedPluginsComeBackAsSymlinks() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let node = dir.path + "/node"
        try Testbed.run(["/bin/mkdir", "-p", node, dir.path + "/pkg"])
        for name in ["bridge", "macvlan", "host-local"] {
            try Testbed.run(["/bin/cp", "/usr/lib/cni/" + name, dir.path + "/pkg/" + name])
            #expect(symlink(dir.path + "/pkg/" + name, node + "/" + name) == 0)
        }
        #expect(symlink(dir.path + "/gone/loopback", node + "/loopback") == 0)
        let before = try Self.linkSnapshot(node)
        let pkg = try Self.linkSnapshot(dir.path + "/pkg")
        let installed = try Self.install(["--dest", node])
        #expect(installed.status == 0, "\(installed.output)")
        #expect(installed.output.contains("loopback: (dangling symlink to"), "\(installed.output)")
        #expect(try Self.linkSnapshot(dir.path + "/pkg") == pkg, "the link targets were written through")
        let removed = try Self.install(["--dest", node, "--uninstall"])
        #expect(removed.status == 0, "\(removed.output)")
        #expect(try Self.linkSnapshot(node) == before)
    }

    /// Two installers at once into one dir: both succeed (the second waits for the first),
    /// every name runs, nothing is left behind (e4f2582: one failed in 25 of 30 runs, leaving a
    /// 10 MB temporary file).
    @Test func concurrentInstallsBothSucceed() throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var failures = 0
        for round in 0..<8 {
            let dest = dir.path + "/bin\(round)"
            let script =
                #"sh "$0" --from "$1" --dest "$2" >"$2.a" 2>&1 & a=$!; sh "$0" --from "$1" --dest "$2" >"$2.b" 2>&1 & b=$!; wait $a && wait $b"#
            let outcome = try ChildProcess.run(
                "/bin/sh",
                arguments: ["-c", script, artifacts.root + "/integration/install.sh", artifacts.dist + "/bin", dest],
                environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], captureStandardError: true)
            if outcome.status != 0 { failures += 1 }
            #expect(Self.leftovers(dest).isEmpty, "\(Self.leftovers(dest))")
            for name in Self.names {
                #expect(try ChildProcess.run(dest + "/" + name, arguments: ["--version"], environment: []).status == 0)
            }
        }
        #expect(failures == 0, "\(failures) of 8 concurrent pairs failed")
    }

    /// An installer killed (SIGKILL) at a random point: the next install finishes the job and
    /// removes what the killed one left, every name runs, and --uninstall gives the reference's
    /// files back exactly (e4f2582: 4 of 30 kills left files no run removed).
    @Test func killedInstallsAreFinishedByTheNext() throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var generator = SeededGenerator(seed: 2026_12_07)
        var dirty = 0
        for round in 0..<12 {
            let node = dir.path + "/node\(round)"
            try Testbed.run(["/bin/cp", "-a", "/usr/lib/cni", node])
            let before = try Self.snapshot(node)
            let pid = try ChildProcess.spawn(
                "/bin/sh",
                arguments: [
                    artifacts.root + "/integration/install.sh", "--from", artifacts.dist + "/bin", "--dest", node,
                ],
                environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], logFile: dir.path + "/killed.log")
            usleep(UInt32.random(in: 0...150_000, using: &generator))
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            if !Self.leftovers(node).isEmpty { dirty += 1 }
            let again = try Self.install(["--dest", node])
            #expect(again.status == 0, "\(again.output)")
            #expect(Self.leftovers(node).isEmpty, "round \(round): \(Self.leftovers(node))")
            for name in Self.names {
                #expect(try ChildProcess.run(node + "/" + name, arguments: ["--version"], environment: []).status == 0)
            }
            #expect(try Self.install(["--dest", node, "--uninstall"]).status == 0)
            #expect(try Self.snapshot(node) == before, "round \(round): --uninstall is not exact")
        }
        FileIO.writeAll(
            .standardError, "installer: 12 random SIGKILLs, \(dirty) left files behind, each removed by the next run\n")
    }

    /// A full disk (a small tmpfs as DEST): the install fails with a message, and the disk holds
    /// what it held before, byte for byte: no partial binary, no partial backup.
    @Test(arguments: ["6m", "14m"])
    func aFullDiskChangesNothing(_ size: String) throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let dest = dir.path + "/full"
        try Testbed.run(["/bin/mkdir", "-p", dest])
        // In a private mount namespace: the tmpfs is gone with the shell.
        let script = #"""
            mount -t tmpfs -o size=$3 tmpfs "$2" && cp -p /usr/lib/cni/bridge "$2/" && before=$(ls -A "$2"; df -k "$2" | tail -1)
            sh "$0" --from "$1" --dest "$2"; status=$?
            after=$(ls -A "$2"; df -k "$2" | tail -1)
            cmp -s "$2/bridge" /usr/lib/cni/bridge || echo "BRIDGE CHANGED"
            [ "$before" = "$after" ] || echo "DISK CHANGED: $before / $after"
            exit $status
            """#
        let outcome = try ChildProcess.run(
            "/usr/bin/unshare",
            arguments: [
                "-m", "/bin/sh", "-c", script, artifacts.root + "/integration/install.sh", artifacts.dist + "/bin",
                dest, size,
            ],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], captureStandardError: true)
        let said = String(decoding: outcome.standardOutput + outcome.standardError, as: UTF8.self)
        #expect(outcome.status != 0 && said.contains("disk full?); nothing was changed"), "\(said)")
        #expect(!said.contains("CHANGED"), "\(said)")
    }

    /// A directory under a plugin name is refused before any name changes, with a message
    /// naming it (e4f2582 replaced three plugins, then failed in cp).
    @Test func aDirectoryUnderAPluginNameIsRefusedFirst() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let node = dir.path + "/node"
        try Testbed.run(["/bin/cp", "-a", "/usr/lib/cni", node])
        try Testbed.run(["/bin/rm", node + "/bridge"])
        try Testbed.run(["/bin/mkdir", node + "/bridge"])
        let before = try Self.snapshot(node)
        let outcome = try Self.install(["--dest", node])
        #expect(outcome.status != 0 && outcome.output.contains("\(node)/bridge is not a file"), "\(outcome.output)")
        #expect(try Self.snapshot(node) == before)
    }

    /// A new binary that does not run on this node is refused before anything is changed.
    @Test func aBinaryThatDoesNotRunIsRefusedBeforeAnyChange() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let node = dir.path + "/node"
        try Testbed.run(["/bin/cp", "-a", "/usr/lib/cni", node])
        let before = try Self.snapshot(node)
        try Testbed.run(["/bin/mkdir", dir.path + "/broken"])
        for name in Self.names {
            dir.write("broken/" + name, "#!/nonexistent/interpreter\n# swift-cni-binary-v1\n")
            _ = chmod(dir.path + "/broken/" + name, 0o755)
        }
        let outcome = try ChildProcess.run(
            "/bin/sh",
            arguments: [
                ReleaseArtifacts.shared.root + "/integration/install.sh", "--from", dir.path + "/broken", "--dest",
                node,
            ],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], captureStandardError: true)
        let said = String(decoding: outcome.standardError, as: UTF8.self)
        #expect(outcome.status != 0 && said.contains("does not run on this node"), "\(said)")
        #expect(try Self.snapshot(node) == before, "the directory was changed")
    }

    /// --with-systemd puts the dhcp daemon's units where asked; --help prints the usage.
    @Test func systemdUnitsAndHelp() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let outcome = try Self.install([
            "--dest", dir.path + "/bin", "--with-systemd", "--systemd-dir", dir.path + "/units",
        ])
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(dir.files("units") == ["swift-cni-dhcp.service", "swift-cni-dhcp.socket"])
        // cnitool only where asked, never in the CNI bin dir; --uninstall takes it back.
        let tools = dir.path + "/tools"
        let withTool = try Self.install(["--dest", dir.path + "/bin", "--with-cnitool", tools])
        #expect(withTool.status == 0 && !Directory.entryNames(atPath: dir.path + "/bin").contains("cnitool"))
        let usage = try ChildProcess.run(tools + "/cnitool", arguments: ["--help"], environment: [])
        #expect(
            String(decoding: usage.standardOutput, as: UTF8.self).contains("usage: cnitool add|check|del|gc|status"))
        #expect(try Self.install(["--dest", dir.path + "/bin", "--uninstall", "--with-cnitool", tools]).status == 0)
        #expect(Directory.entryNames(atPath: tools).isEmpty)
        let help = try Self.install(["--help"])
        #expect(
            help.status == 0 && help.output.contains("--uninstall") && help.output.contains("--only"), "\(help.output)")
    }

    /// A runtime exec'ing `macvlan` (VERSION) in a loop while the plugins are upgraded back and
    /// forth between two different builds never fails to exec nor runs a truncated file.
    @Test func execDuringUpgradeNeverFails() throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let dest = dir.path + "/bin"
        // A second build: the same binary with bytes appended (a different file that still runs).
        let other = dir.path + "/other"
        try Testbed.run(["/bin/mkdir", "-p", other])
        try Testbed.run(["/bin/cp", artifacts.dist + "/bin/macvlan", other + "/macvlan"])
        let fd = try FileDescriptor(checking: open(other + "/macvlan", O_WRONLY | O_APPEND), "open", other)
        FileIO.writeAll(fd, "\nsecond build\n")
        try fd.close()
        for name in Self.names.dropFirst() { try Testbed.run(["/bin/ln", other + "/macvlan", other + "/" + name]) }
        #expect(try Self.install(["--dest", dest]).status == 0)

        let stop = Atomic<Bool>(false)
        let runs = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        ParallelThreads.run(2) { worker in
            if worker == 0 {
                for round in 0..<20 {
                    let source = round % 2 == 0 ? other : artifacts.dist + "/bin"
                    let outcome = try? ChildProcess.run(
                        "/bin/sh",
                        arguments: [artifacts.root + "/integration/install.sh", "--from", source, "--dest", dest],
                        environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], captureStandardError: true)
                    if outcome?.status != 0 { failures.withLock { $0.append("install round \(round) failed") } }
                }
                stop.store(true, ordering: .relaxed)
            } else {
                while !stop.load(ordering: .relaxed) {
                    let outcome = try? ChildProcess.run(
                        dest + "/macvlan", environment: ["CNI_COMMAND=VERSION"],
                        input: Array(#"{"cniVersion":"1.0.0"}"#.utf8))
                    runs.add(1, ordering: .relaxed)
                    let json = outcome.flatMap { try? JSONValue.parse($0.standardOutput) }
                    if outcome?.status != 0 || json?["supportedVersions"] == nil {
                        failures.withLock {
                            $0.append("exec failed: status \(outcome.map { String($0.status) } ?? "spawn error")")
                        }
                    }
                }
            }
        }
        let total = runs.load(ordering: .relaxed)
        FileIO.writeAll(
            .standardError,
            "installer: \(total) execs of macvlan during 20 upgrades, \(failures.withLock { $0.count }) failures\n")
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 }.prefix(5))")
        #expect(total > 20)
    }

    /// The installer image: loaded from its OCI archive into a fresh podman store and run with
    /// an empty host dir mounted, it leaves the eight plugins there, and they run.
    @Test func imageInstallsIntoAMountedDir() throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let dest = dir.path + "/host-bin"
        try Testbed.run(["/bin/mkdir", "-p", dest])
        let podman = [
            "/usr/bin/podman", "--storage-driver", "vfs", "--root", dir.path + "/storage", "--runroot",
            dir.path + "/run",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "runc",
        ]
        try Testbed.run(podman + ["load", "-q", "-i", artifacts.image])
        let run = try ChildProcess.run(
            podman[0],
            arguments: Array(podman.dropFirst()) + [
                "run", "--rm", "--network", "none", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
                "-v", "\(dest):/host/opt/cni/bin", "localhost/swift-cni:\(artifacts.version)",
            ],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"], captureStandardError: true)
        let output = String(decoding: run.standardOutput + run.standardError, as: UTF8.self)
        #expect(run.status == 0, "\(output)")
        #expect(Directory.entryNames(atPath: dest).sorted() == Self.names.sorted(), "\(output)")
        for name in Self.names {
            let version = try ChildProcess.run(dest + "/" + name, arguments: ["--version"], environment: [])
            #expect(
                String(decoding: version.standardOutput, as: UTF8.self).hasPrefix(
                    "swift-cni \(name) \(artifacts.version) "))
        }
        // The image runs the plugins too (the dhcp daemon's DaemonSet uses it): its libraries load.
        let inside = try ChildProcess.run(
            podman[0],
            arguments: Array(podman.dropFirst()) + [
                "run", "--rm", "--network", "none", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
                "--entrypoint", "/swift-cni/bin/dhcp", "localhost/swift-cni:\(artifacts.version)", "daemon", "-h",
            ],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"], captureStandardError: true)
        #expect(
            inside.status == 0 && String(decoding: inside.standardOutput, as: UTF8.self).contains("usage: dhcp daemon"),
            "\(String(decoding: inside.standardOutput + inside.standardError, as: UTF8.self))")
        _ = try? Testbed.run(podman + ["rmi", "-a", "-f"])
    }

    /// The installer DaemonSet's init container as the kubelet runs it: the image, the args and
    /// the hostPath mount of deploy/kubernetes/installer-daemonset.yaml (the node's /opt/cni/bin
    /// played by a temporary directory).
    @Test func daemonSetInstallerRunsAsWritten() throws {
        let artifacts = ReleaseArtifacts.shared
        try artifacts.require()
        let spec = try JSONValue.parse(
            try Testbed.run([
                "/usr/bin/python3", artifacts.root + "/integration/k8s-manifests.py", "installer",
                artifacts.root + "/deploy/kubernetes",
            ]))
        #expect(
            spec["image"] == .string("localhost/swift-cni:\(artifacts.version)"),
            "the DaemonSet names another image: \(spec)")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let podman = [
            "/usr/bin/podman", "--storage-driver", "vfs", "--root", dir.path + "/storage", "--runroot",
            dir.path + "/run",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "runc",
        ]
        try Testbed.run(podman + ["load", "-q", "-i", artifacts.image])
        var volumes: [String] = []
        var nodePaths: [String] = []
        for mount in spec["mounts"]?.arrayValue ?? [] {
            let node = dir.path + "/node" + (mount["hostPath"]?.stringValue ?? "")
            try Testbed.run(["/bin/mkdir", "-p", node])
            volumes += ["-v", "\(node):\(mount["mountPath"]?.stringValue ?? "")"]
            nodePaths.append(node)
        }
        let args = spec["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let run = try ChildProcess.run(
            podman[0],
            arguments: Array(podman.dropFirst()) + [
                "run", "--rm", "--network", "none",
                "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
            ] + volumes + [spec["image"]?.stringValue ?? ""] + args,
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"], captureStandardError: true)
        #expect(run.status == 0, "\(String(decoding: run.standardOutput + run.standardError, as: UTF8.self))")
        let bin = try #require(nodePaths.first)
        #expect(Directory.entryNames(atPath: bin).sorted() == Self.names.sorted())
        _ = try? Testbed.run(podman + ["rmi", "-a", "-f"])
    }
}
