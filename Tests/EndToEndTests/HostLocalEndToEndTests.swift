import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// host-local exec'd as a runtime (or a main plugin) execs it, against the reference binary
/// from Debian's containernetworking-plugins on the same store.
@Suite struct HostLocalEndToEndTests {
    static let reference = "/usr/lib/cni"

    /// Runs an IPAM plugin directly (IPAM needs no namespace); `directory` picks ours or the reference.
    static func ipam(
        _ directory: String, _ command: String, config: String, containerID: String,
        ifName: String = "eth0", args: String = ""
    ) throws -> PluginOutcome {
        let env = [
            "CNI_COMMAND=\(command)", "CNI_CONTAINERID=\(containerID)", "CNI_NETNS=/run/netns/none",
            "CNI_IFNAME=\(ifName)", "CNI_PATH=\(directory)", "CNI_ARGS=\(args)",
        ]
        let outcome = try ChildProcess.run(directory + "/host-local", environment: env, input: Array(config.utf8))
        return PluginOutcome(status: outcome.status, output: String(decoding: outcome.standardOutput, as: UTF8.self))
    }

    static func config(
        _ dataDir: String, version: String = "0.4.0", ranges: String = #"[[{"subnet":"10.40.0.0/24"}]]"#,
        extra: String = ""
    ) -> String {
        #"{"cniVersion":"\#(version)","name":"e2enet","type":"macvlan","ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":\#(ranges)\#(extra)}}"#
    }

    func addresses(_ outcome: PluginOutcome) -> [String] {
        outcome.json?["ips"]?.arrayValue?.compactMap { $0["address"]?.stringValue } ?? []
    }

    @Test func referenceStoreIsContinuedByOursAndBack() throws {
        try #require(access(Self.reference + "/host-local", X_OK) == 0, "apt-get install containernetworking-plugins")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = Self.config(dir.path, ranges: #"[[{"subnet":"10.40.0.0/24"}],[{"subnet":"fd40::/64"}]]"#)
        let ours = Testbed.binDirectory
        var seen = Set<String>()
        // Alternate: reference, ours, reference, ours ... on one store; every address distinct.
        for n in 0..<8 {
            let add = try Self.ipam(n % 2 == 0 ? Self.reference : ours, "ADD", config: config, containerID: "ctr\(n)")
            #expect(add.status == 0, "\(add.output)")
            for address in addresses(add) {
                #expect(!seen.contains(address), "\(address) handed out twice")
                seen.insert(address)
            }
        }
        #expect(seen.count == 16)
        // Each releases what the other reserved.
        for n in 0..<8 {
            let del = try Self.ipam(n % 2 == 0 ? ours : Self.reference, "DEL", config: config, containerID: "ctr\(n)")
            #expect(del.status == 0, "\(del.output)")
        }
        #expect(dir.files("e2enet") == ["last_reserved_ip.0", "last_reserved_ip.1", "lock"])
        // CHECK by ours of a reservation the reference made.
        #expect(try Self.ipam(Self.reference, "ADD", config: config, containerID: "late").status == 0)
        #expect(try Self.ipam(ours, "CHECK", config: config, containerID: "late").status == 0)
        #expect(try Self.ipam(ours, "CHECK", config: config, containerID: "never").errorCode == 103)
    }

    /// A network directory that is a symlink (an operator's move of the store to another
    /// disk) is followed, as the reference's ADD follows it: the lock and the reservations are
    /// written where it points. Ours also releases there; the reference's DEL does not.
    @Test func aSymlinkedNetworkDirectoryIsFollowedAsTheReferenceDoes() throws {
        try #require(access(Self.reference + "/host-local", X_OK) == 0, "apt-get install containernetworking-plugins")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Testbed.run(["/bin/mkdir", "-p", dir.path + "/data", dir.path + "/elsewhere"])
        #expect(symlink(dir.path + "/elsewhere", dir.path + "/data/e2enet") == 0)
        let config = Self.config(dir.path + "/data", ranges: #"[[{"subnet":"10.42.0.0/24"}]]"#)
        let ours = try Self.ipam(Testbed.binDirectory, "ADD", config: config, containerID: "sym1")
        #expect(ours.status == 0, "\(ours.output)")
        let theirs = try Self.ipam(Self.reference, "ADD", config: config, containerID: "sym2")
        #expect(theirs.status == 0, "\(theirs.output)")
        #expect(dir.files("elsewhere").filter { $0.hasPrefix("10.42.") } == ["10.42.0.2", "10.42.0.3"])
        #expect(dir.files("elsewhere").contains("lock"))
        // The reference's DEL walks the network directory with filepath.Walk, which does not
        // enter a symlink: it succeeds and releases nothing (its own reservations neither).
        #expect(try Self.ipam(Self.reference, "DEL", config: config, containerID: "sym1").status == 0)
        #expect(dir.files("elsewhere").filter { $0.hasPrefix("10.42.") } == ["10.42.0.2", "10.42.0.3"])
        // Ours reads it: CHECK sees the reference's reservation, DEL releases both.
        #expect(try Self.ipam(Testbed.binDirectory, "CHECK", config: config, containerID: "sym2").status == 0)
        #expect(try Self.ipam(Testbed.binDirectory, "DEL", config: config, containerID: "sym2").status == 0)
        #expect(try Self.ipam(Testbed.binDirectory, "DEL", config: config, containerID: "sym1").status == 0)
        #expect(dir.files("elsewhere").filter { $0.hasPrefix("10.42.") }.isEmpty)
        var info = stat()
        #expect(lstat(dir.path + "/data/e2enet", &info) == 0 && info.st_mode & S_IFMT == S_IFLNK, "the link stays")
        // A dangling link is a store failure that names it, never a directory made elsewhere.
        #expect(symlink(dir.path + "/nowhere", dir.path + "/data/other") == 0)
        let dangling = try Self.ipam(
            Testbed.binDirectory, "ADD", config: config.replacingFirst("e2enet", with: "other"), containerID: "x")
        #expect(dangling.errorCode == 104 && dangling.output.contains("other"), "\(dangling.output)")
    }

    /// A store written by both, with range sets of several ranges each, dual stack: our GC
    /// keeps exactly the valid attachments whoever reserved them; our ADD sees a reservation
    /// the reference made for the same attachment (duplicate, code 7); after GC the reference
    /// goes on allocating from the store without colliding.
    @Test func mixedStoreGarbageCollectedByOurs() throws {
        try #require(access(Self.reference + "/host-local", X_OK) == 0, "apt-get install containernetworking-plugins")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let ranges =
            #"[[{"subnet":"10.41.0.0/29"},{"subnet":"10.41.1.0/29"}],[{"subnet":"fd41::/120","rangeStart":"fd41::10","rangeEnd":"fd41::13"},{"subnet":"fd41:1::/120"}]]"#
        let config = Self.config(dir.path, ranges: ranges)
        let ours = Testbed.binDirectory
        var held: [String: [String]] = [:]
        for n in 0..<8 {
            let add = try Self.ipam(n % 2 == 0 ? Self.reference : ours, "ADD", config: config, containerID: "mix\(n)")
            #expect(add.status == 0, "mix\(n): \(add.output)")
            held["mix\(n)"] = addresses(add)
        }
        #expect(Set(held.values.flatMap { $0 }).count == 16, "\(held)")
        let duplicate = try Self.ipam(ours, "ADD", config: config, containerID: "mix0")
        #expect(duplicate.errorCode == 7, "a reservation the reference made must be seen: \(duplicate.output)")
        var gc = try JSONValue.parse(Self.config(dir.path, version: "1.1.0", ranges: ranges))
        if case .object(var object) = gc {
            object["cni.dev/valid-attachments"] = [
                ["containerID": "mix0", "ifname": "eth0"], ["containerID": "mix3", "ifname": "eth0"],
                ["containerID": "mix6", "ifname": "eth0"],
            ]
            gc = .object(object)
        }
        let collected = try Self.ipam(ours, "GC", config: gc.serialized(), containerID: "gc")
        #expect(collected.status == 0, "\(collected.output)")
        let kept = Set(dir.files("e2enet").filter { $0 != "lock" && !$0.hasPrefix("last_reserved_ip") })
        let expected = Set(
            ["mix0", "mix3", "mix6"].flatMap { held[$0] ?? [] }.map { String($0.split(separator: "/")[0]) })
        #expect(kept == expected, "after GC: \(kept.sorted()), expected \(expected.sorted())")
        for n in 8..<12 {
            let add = try Self.ipam(n % 2 == 0 ? Self.reference : ours, "ADD", config: config, containerID: "mix\(n)")
            #expect(add.status == 0, "mix\(n) after GC: \(add.output)")
            for address in addresses(add) {
                #expect(!expected.contains(String(address.split(separator: "/")[0])), "\(address) handed out twice")
            }
        }
    }

    /// Our ADD trusts its index only while nobody else has changed the store since our last
    /// operation (see IndexCompleteness): every change the reference makes right after one of
    /// ours — a reservation, a release and a new one for the same container — is seen by our
    /// next duplicate check and DEL.
    @Test func referenceWritesBetweenOurCallsAreSeen() throws {
        try #require(access(Self.reference + "/host-local", X_OK) == 0, "apt-get install containernetworking-plugins")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = Self.config(dir.path, ranges: #"[[{"subnet":"10.43.0.0/24"}]]"#)
        let ours = Testbed.binDirectory
        for id in ["ours1", "ours2"] {
            #expect(try Self.ipam(ours, "ADD", config: config, containerID: id).status == 0)
        }
        let made = try Self.ipam(Self.reference, "ADD", config: config, containerID: "ref1")
        #expect(made.status == 0, "\(made.output)")
        #expect(
            try Self.ipam(ours, "ADD", config: config, containerID: "ref1").errorCode == 7,
            "the reference's reservation is a duplicate")
        // A container restarted under the same id with the reference: released, then a new address.
        #expect(try Self.ipam(ours, "ADD", config: config, containerID: "ours3").status == 0)
        #expect(try Self.ipam(Self.reference, "DEL", config: config, containerID: "ours1").status == 0)
        let again = try Self.ipam(Self.reference, "ADD", config: config, containerID: "ours1")
        #expect(again.status == 0, "\(again.output)")
        #expect(
            try Self.ipam(ours, "ADD", config: config, containerID: "ours1").errorCode == 7,
            "the reference's new reservation is a duplicate")
        for id in ["ours1", "ours2", "ours3", "ref1"] {
            #expect(try Self.ipam(ours, "DEL", config: config, containerID: id).status == 0)
        }
        #expect(
            dir.files("e2enet").filter { $0.hasPrefix("10.43.") }.isEmpty,
            "every reservation released: \(dir.files("e2enet"))")
    }

    /// A `resolvConf` that is a FIFO (or a directory) is code 7 at once: opening a FIFO for
    /// reading used to wait for a writer forever, and the ADD with it.
    @Test func aResolvConfThatIsNotAFileIsRefusedAtOnce() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect(mkfifo(dir.path + "/fifo", 0o644) == 0)
        for target in ["fifo", ""] {
            let config =
                #"{"cniVersion":"1.0.0","name":"rc","type":"host-local","ipam":{"type":"host-local","dataDir":"\#(dir.path)/store","resolvConf":"\#(dir.path)/\#(target)","ranges":[[{"subnet":"10.46.0.0/24"}]]}}"#
            // Under timeout(1): a plugin that waits on the FIFO is killed after 30 s and fails
            // the test instead of hanging the suite.
            let run = try ChildProcess.run(
                "/usr/bin/timeout",
                arguments: ["30", Testbed.binDirectory + "/host-local"],
                environment: [
                    "CNI_COMMAND=ADD", "CNI_CONTAINERID=rc1", "CNI_NETNS=/run/netns/none", "CNI_IFNAME=eth0",
                    "CNI_PATH=/bin",
                ], input: Array(config.utf8))
            let outcome = PluginOutcome(
                status: run.status, output: String(decoding: run.standardOutput, as: UTF8.self))
            #expect(outcome.status != 124, "ADD waited on \(target.isEmpty ? "a directory" : "a FIFO") until killed")
            #expect(outcome.errorCode == 7, "\(outcome.output)")
            #expect(outcome.output.contains("not a regular file"), "\(outcome.output)")
        }
        #expect(dir.files("store/rc").filter { $0.hasPrefix("10.46.") }.isEmpty)
    }

    /// Names are bytes: two interface names that Swift's String calls equal (canonically
    /// equivalent, "n\u{e9}t" and "ne\u{301}t") are two attachments to the kernel and the
    /// reference, and to us; each DEL releases its own address only, ours or the reference's.
    @Test func canonicallyEquivalentNamesAreTwoAttachments() throws {
        try #require(access(Self.reference + "/host-local", X_OK) == 0, "apt-get install containernetworking-plugins")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = Self.config(dir.path, version: "1.0.0", ranges: #"[[{"subnet":"10.48.0.0/24"}]]"#)
        let ours = Testbed.binDirectory
        let composed = "n\u{e9}t"
        let decomposed = "ne\u{301}t"
        let first = try Self.ipam(ours, "ADD", config: config, containerID: "c1", ifName: composed)
        let second = try Self.ipam(ours, "ADD", config: config, containerID: "c1", ifName: decomposed)
        #expect(first.status == 0 && second.status == 0, "\(first.output) \(second.output)")
        #expect(addresses(first) != addresses(second))
        let byReference = try Self.ipam(Self.reference, "ADD", config: config, containerID: "c2", ifName: composed)
        #expect(byReference.status == 0, "\(byReference.output)")
        #expect(try Self.ipam(ours, "ADD", config: config, containerID: "c2", ifName: decomposed).status == 0)
        #expect(try Self.ipam(ours, "DEL", config: config, containerID: "c1", ifName: decomposed).status == 0)
        #expect(try Self.ipam(ours, "CHECK", config: config, containerID: "c1", ifName: composed).status == 0)
        #expect(try Self.ipam(Self.reference, "DEL", config: config, containerID: "c2", ifName: composed).status == 0)
        #expect(try Self.ipam(ours, "CHECK", config: config, containerID: "c2", ifName: decomposed).status == 0)
        #expect(try Self.ipam(ours, "DEL", config: config, containerID: "c1", ifName: composed).status == 0)
        #expect(try Self.ipam(ours, "DEL", config: config, containerID: "c2", ifName: decomposed).status == 0)
        #expect(dir.files("e2enet").filter { $0.hasPrefix("10.48.") }.isEmpty, "\(dir.files("e2enet"))")
    }

    /// An interface name whose bytes are not UTF-8 is those bytes, as to the kernel and the
    /// reference (it used to be read with U+FFFD in their place: `\xff` and `\xfe` were one
    /// name, and the store held bytes the reference's DEL did not match).
    @Test func aNameThatIsNotUTF8IsItsBytes() throws {
        try #require(access(Self.reference + "/host-local", X_OK) == 0, "apt-get install containernetworking-plugins")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = Self.config(dir.path, version: "1.0.0", ranges: #"[[{"subnet":"10.49.0.0/24"}]]"#)
        let ours = Testbed.binDirectory
        let ff = RawName.decode([0x61, 0xff])
        let fe = RawName.decode([0x61, 0xfe])
        let first = try Self.ipam(ours, "ADD", config: config, containerID: "u1", ifName: ff)
        let second = try Self.ipam(ours, "ADD", config: config, containerID: "u1", ifName: fe)
        #expect(first.status == 0 && second.status == 0, "\(first.output) \(second.output)")
        let file = try #require(addresses(first).first.map { String($0.prefix { $0 != "/" }) })
        #expect(
            try FileIO.readFile(dir.path + "/e2enet/" + file) == Array("u1\r\na".utf8) + [0xff],
            "the reservation holds the name's bytes")
        #expect(try Self.ipam(Self.reference, "DEL", config: config, containerID: "u1", ifName: ff).status == 0)
        #expect(!dir.files("e2enet").contains(file), "the reference's DEL released our reservation of the same bytes")
        #expect(try Self.ipam(Self.reference, "ADD", config: config, containerID: "u2", ifName: ff).status == 0)
        #expect(try Self.ipam(ours, "CHECK", config: config, containerID: "u2", ifName: ff).status == 0)
        #expect(try Self.ipam(ours, "DEL", config: config, containerID: "u2", ifName: ff).status == 0)
        #expect(try Self.ipam(ours, "DEL", config: config, containerID: "u1", ifName: fe).status == 0)
        #expect(dir.files("e2enet").filter { $0.hasPrefix("10.49.") }.isEmpty, "\(dir.files("e2enet"))")
    }

    /// A NUL inside a string (valid JSON) never reaches a C string, where it would cut the
    /// value short: the store would have been written in `<dir>/x`.
    @Test func aNULInsideAStringIsCodeSeven() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for config in [
            #"{"cniVersion":"1.0.0","name":"nul","type":"host-local","ipam":{"type":"host-local","dataDir":"\#(dir.path)/x\u0000/y","ranges":[[{"subnet":"10.45.0.0/24"}]]}}"#,
            #"{"cniVersion":"1.0.0","name":"nul\u0000net","type":"host-local","ipam":{"type":"host-local","dataDir":"\#(dir.path)/z","ranges":[[{"subnet":"10.45.0.0/24"}]]}}"#,
        ] {
            let outcome = try Self.ipam(Testbed.binDirectory, "ADD", config: config, containerID: "n1")
            #expect(outcome.errorCode == 7, "\(outcome.output)")
            #expect(outcome.json?["msg"]?.stringValue?.contains("NUL") == true, "\(outcome.output)")
        }
        #expect(dir.files("").isEmpty, "nothing was written: \(dir.files(""))")
    }

    /// An address that leaves its owner and comes back to the same owner while our index is
    /// sealed (issue 19's reproduction): our DEL must release it, CHECK must see it, a second
    /// ADD must be refused and GC must free it.
    @Test func anAddressThatComesBackToItsOwnerIsStillSeen() throws {
        try #require(access(Self.reference + "/host-local", X_OK) == 0, "apt-get install containernetworking-plugins")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = Self.config(dir.path, version: "1.0.0", ranges: #"[[{"subnet":"10.44.0.0/24"}]]"#)
        let ours = Testbed.binDirectory
        #expect(
            try Self.ipam(Self.reference, "ADD", config: config, containerID: "Y", args: "IP=10.44.0.2").status == 0)
        #expect(try Self.ipam(ours, "ADD", config: config, containerID: "W").status == 0)
        #expect(try Self.ipam(ours, "DEL", config: config, containerID: "Y").status == 0)
        #expect(!dir.files("e2enet").contains("10.44.0.2"), "our DEL released Y's address")
        #expect(
            try Self.ipam(Self.reference, "ADD", config: config, containerID: "Y", args: "IP=10.44.0.2").status == 0)
        #expect(try Self.ipam(ours, "ADD", config: config, containerID: "Z").status == 0)
        #expect(try Self.ipam(ours, "CHECK", config: config, containerID: "Y").status == 0, "CHECK sees Y's address")
        #expect(try Self.ipam(ours, "ADD", config: config, containerID: "Y").errorCode == 7, "a second ADD is refused")
        #expect(try Self.ipam(ours, "DEL", config: config, containerID: "Y").status == 0)
        #expect(!dir.files("e2enet").contains("10.44.0.2"), "our DEL released Y's returned address")
        #expect(
            try Self.ipam(Self.reference, "ADD", config: config, containerID: "Y", args: "IP=10.44.0.2").status == 0)
        let gc = config.replacing(
            #""1.0.0","name":"e2enet""#, with: #""1.1.0","name":"e2enet","cni.dev/valid-attachments":[]"#)
        #expect(try Self.ipam(ours, "GC", config: gc, containerID: "Y").status == 0)
        #expect(dir.files("e2enet").filter { $0.hasPrefix("10.44.") }.isEmpty, "GC freed everything")
    }

    /// IPAM across suites: the reference macvlan delegates to our host-local and static, and
    /// our macvlan to the reference's host-local (found on CNI_PATH, exec'd).
    @Test func delegationAcrossSuites() throws {
        try #require(access(Self.reference + "/macvlan", X_OK) == 0, "apt-get install containernetworking-plugins")
        let bed = try Testbed()
        defer { bed.tearDown() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let host = try bed.hostWithUplink()
        let cases: [(main: String, ipamPath: String, ipam: String)] = [
            (
                Self.reference, Testbed.binDirectory,
                #"{"type":"host-local","dataDir":"\#(dir.path)","ranges":[[{"subnet":"10.47.0.0/24"}]]}"#
            ),
            (Self.reference, Testbed.binDirectory, #"{"type":"static","addresses":[{"address":"10.47.1.5/24"}]}"#),
            (
                Testbed.binDirectory, Self.reference,
                #"{"type":"host-local","dataDir":"\#(dir.path)","ranges":[[{"subnet":"10.47.0.0/24"}]]}"#
            ),
        ]
        for (n, entry) in cases.enumerated() {
            let container = try bed.namespace("x\(n)")
            let config = #"{"cniVersion":"1.0.0","name":"xnet","type":"macvlan","master":"up0","ipam":\#(entry.ipam)}"#
            let add = try bed.plugin(
                "macvlan", "ADD", config: config, host: host, containerID: "x\(n)", netns: bed.path(container),
                binDirectory: entry.main.hasPrefix("/usr") ? entry.main : Testbed.binDirectory,
                cniPath: entry.ipamPath)
            #expect(add.status == 0, "case \(n): \(add.output)")
            let address = try #require(add.json?["ips"]?.arrayValue?.first?["address"]?.stringValue)
            let onLink =
                try bed.ipJSON(container, "addr", "show", "eth0").arrayValue?.first?["addr_info"]?.arrayValue ?? []
            #expect(
                onLink.contains { "\($0["local"]?.stringValue ?? "")/\($0["prefixlen"]?.intValue ?? 0)" == address },
                "case \(n)")
            let del = try bed.plugin(
                "macvlan", "DEL", config: config, host: host, containerID: "x\(n)", netns: bed.path(container),
                binDirectory: entry.main.hasPrefix("/usr") ? entry.main : Testbed.binDirectory,
                cniPath: entry.ipamPath)
            #expect(del.status == 0, "case \(n): \(del.output)")
        }
        #expect(dir.files("xnet").filter { $0.hasPrefix("10.") }.isEmpty)
    }

    @Test func sixtyFourParallelAllocationsAndReleases() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = Self.config(dir.path, version: "1.1.0")
        let count = 64
        final class Outcomes: @unchecked Sendable { var items = [PluginOutcome?](repeating: nil, count: 64) }
        let outcomes = Outcomes()
        ParallelThreads.run(count) { n in
            outcomes.items[n] = try? Self.ipam(Testbed.binDirectory, "ADD", config: config, containerID: "par\(n)")
        }
        let addresses = outcomes.items.compactMap { $0 }.flatMap(addresses)
        #expect(outcomes.items.allSatisfy { $0?.status == 0 })
        #expect(addresses.count == count)
        #expect(Set(addresses).count == count, "an address was handed out twice")
        let files = dir.files("e2enet").filter { $0.hasPrefix("10.40.0.") }
        #expect(files.count == count)
        for file in files {
            let content = try #require(dir.read("e2enet/" + file))
            #expect(content.hasPrefix("par") && content.hasSuffix("\r\neth0"), "\(file) holds \(content)")
        }
        ParallelThreads.run(count) { n in
            outcomes.items[n] = try? Self.ipam(Testbed.binDirectory, "DEL", config: config, containerID: "par\(n)")
        }
        #expect(outcomes.items.allSatisfy { $0?.status == 0 })
        #expect(dir.files("e2enet") == ["last_reserved_ip.0", "lock"])
    }

    @Test func dualStackRoutesAndResolvConf() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        dir.write("resolv.conf", "nameserver 10.40.0.53\nsearch corp.example\noptions ndots:3\n")
        let config = Self.config(
            dir.path, version: "1.1.0",
            ranges: #"[[{"subnet":"10.40.0.0/24","gateway":"10.40.0.254"}],[{"subnet":"fd40::/64"}]]"#,
            extra:
                #","routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0","gw":"fd40::1"}],"resolvConf":"\#(dir.path)/resolv.conf""#
        )
        let add = try Self.ipam(Testbed.binDirectory, "ADD", config: config, containerID: "ds")
        #expect(add.status == 0, "\(add.output)")
        #expect(
            add.json?["ips"] == [
                ["address": "10.40.0.1/24", "gateway": "10.40.0.254"], ["address": "fd40::2/64", "gateway": "fd40::1"],
            ])
        #expect(add.json?["routes"] == [["dst": "0.0.0.0/0"], ["dst": "::/0", "gw": "fd40::1"]])
        #expect(
            add.json?["dns"] == ["nameservers": ["10.40.0.53"], "search": ["corp.example"], "options": ["ndots:3"]])
        // A 0.2.0 config prints ip4/ip6, with the routes of each family and the DNS.
        let legacy = try Self.ipam(
            Testbed.binDirectory, "ADD", config: config.replacingFirst("1.1.0", with: "0.2.0"), containerID: "old")
        #expect(legacy.status == 0, "\(legacy.output)")
        #expect(
            legacy.json?["ip4"] == ["ip": "10.40.0.2/24", "gateway": "10.40.0.254", "routes": [["dst": "0.0.0.0/0"]]])
        #expect(
            legacy.json?["ip6"] == [
                "ip": "fd40::3/64", "gateway": "fd40::1", "routes": [["dst": "::/0", "gw": "fd40::1"]],
            ])
        // Two IPv4 range sets cannot be expressed below 0.3.0.
        let twoV4 = Self.config(
            dir.path, version: "0.2.0", ranges: #"[[{"subnet":"10.40.0.0/24"}],[{"subnet":"10.41.0.0/24"}]]"#)
        let refused = try Self.ipam(Testbed.binDirectory, "ADD", config: twoV4, containerID: "old2")
        #expect(refused.errorCode == 7, "\(refused.output)")
    }

    @Test func statusAndGCAt110() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = Self.config(dir.path, version: "1.1.0")
        #expect(try Self.ipam(Testbed.binDirectory, "STATUS", config: config, containerID: "").status == 0)
        dir.write("not-a-dir", "x")
        let broken = Self.config(dir.path + "/not-a-dir", version: "1.1.0")
        let status = try Self.ipam(Testbed.binDirectory, "STATUS", config: broken, containerID: "")
        #expect(status.errorCode == 50, "\(status.output)")
        #expect(status.json?["details"]?.stringValue?.contains("not-a-dir") == true)

        for id in ["a", "b", "c"] {
            #expect(try Self.ipam(Testbed.binDirectory, "ADD", config: config, containerID: id).status == 0)
        }
        let gcConfig = config.replacingFirst(
            #""type":"macvlan","#,
            with: #""type":"macvlan","cni.dev/valid-attachments":[{"containerID":"b","ifname":"eth0"}],"#)
        let gc = try Self.ipam(Testbed.binDirectory, "GC", config: gcConfig, containerID: "")
        #expect(gc.status == 0, "\(gc.output)")
        #expect(dir.files("e2enet") == ["10.40.0.3", "last_reserved_ip.0", "lock"])
        #expect(
            try Self.ipam(
                Testbed.binDirectory, "GC", config: config.replacingFirst("1.1.0", with: "1.0.0"), containerID: ""
            ).errorCode == 1)
    }
}
