import Addressing
import CNI
import IPAM
import JSON
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

func request(
    _ config: String, command: String = "ADD", containerID: String = "c1", ifName: String = "eth0",
    args: String = ""
) throws -> CNIRequest {
    let env = try #require(
        try CNIEnvironment.load(from: [
            "CNI_COMMAND": command, "CNI_CONTAINERID": containerID, "CNI_NETNS": "/x", "CNI_IFNAME": ifName,
            "CNI_PATH": "/x", "CNI_ARGS": args,
        ]))
    return CNIRequest(environment: env, config: try NetworkConfig(bytes: Array(config.utf8)))
}

func hostLocal(_ dir: TemporaryDirectory, ipam: String, version: String = "1.1.0", extra: String = "") -> String {
    #"{"cniVersion":"\#(version)","name":"net1","type":"x"\#(extra),"ipam":{"type":"host-local","dataDir":"\#(dir.path)",\#(ipam)}}"#
}

@Suite struct HostLocalConfigTests {
    func error(_ ipam: String, version: String = "1.1.0") throws -> CNIError? {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        do {
            _ = try HostLocalConfig(request: try request(hostLocal(dir, ipam: ipam, version: version)))
            return nil
        } catch let error as CNIError {
            return error
        }
    }

    @Test func defaultsFollowTheReference() throws {
        let range = try AddressRange(subnet: try #require(IPPrefix("10.1.2.0/24")))
        #expect(range.gateway?.description == "10.1.2.1")
        #expect(range.rangeStart.description == "10.1.2.1")
        #expect(range.rangeEnd.description == "10.1.2.254")
        let v6 = try AddressRange(subnet: try #require(IPPrefix("fd00::/120")))
        #expect(v6.rangeEnd.description == "fd00::ff")
    }

    @Test(arguments: [
        (#""subnet":"10.0.0.0/31""#, "Network 10.0.0.0/31 too small to allocate from"),
        (#""subnet":"10.0.0.0/32""#, "Network 10.0.0.0/32 too small to allocate from"),
        (#""subnet":"fd00::/127""#, "Network fd00::/127 too small to allocate from"),
        (#""subnet":"fd00::/128""#, "Network fd00::/128 too small to allocate from"),
        (#""subnet":"10.0.0.5/24""#, "host bits set"),
        (#""subnet":"10.0.0.0/24","gateway":"10.0.1.1""#, "gateway 10.0.1.1 not in network 10.0.0.0/24"),
        (#""subnet":"10.0.0.0/24","rangeStart":"10.0.1.1""#, "rangeStart 10.0.1.1 not in network"),
        (#""subnet":"10.0.0.0/24","rangeStart":"10.0.0.50","rangeEnd":"10.0.0.40""#, "before start"),
        (#""subnet":"10.0.0.0/24","rangeEnd":"fd00::1""#, "not the same protocol"),
        (#""ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"10.0.0.0/25"}]]"#, "range set 0 overlaps with 1"),
        (#""ranges":[[{"subnet":"10.0.0.0/24"},{"subnet":"10.0.0.128/25"}]]"#, "overlap"),
        (#""ranges":[[{"subnet":"10.0.0.0/24"},{"subnet":"fd00::/64"}]]"#, "mixed address families"),
        (#""ranges":[[]]"#, "empty range set"),
        (#""routes":[]"#, "no IP ranges specified"),
        (#""ranges":[[{"subnet":"nope"}]]"#, "invalid CIDR"),
    ])
    func rejectsInvalidRanges(_ ipam: String, _ message: String) throws {
        let error = try #require(try error(ipam))
        #expect(error.code == 7)
        #expect(error.msg.contains(message), "\(error.msg)")
    }

    @Test func legacyVersionsGetOneAddressPerFamily() throws {
        let error = try #require(
            try error(#""ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"10.1.0.0/24"}]]"#, version: "0.2.0"))
        #expect(error.msg == "CNI version 0.2.0 does not support more than 1 address per family")
        #expect(
            try self.error(#""ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"fd00::/64"}]]"#, version: "0.2.0") == nil)
    }

    @Test func rangeSourcesAndRequestedAddressesInOrder() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let text = hostLocal(
            dir, ipam: #""subnet":"10.9.0.0/24","ranges":[[{"subnet":"10.8.0.0/24"}]]"#,
            extra:
                #","runtimeConfig":{"ipRanges":[[{"subnet":"10.7.0.0/24"}]],"ips":["10.8.0.9/24"]},"args":{"cni":{"ips":["10.9.0.9"]}}"#
        )
        let config = try HostLocalConfig(request: try request(text, args: "IP=10.7.0.9"))
        #expect(
            config.rangeSets.map(\.description) == [
                "10.7.0.1-10.7.0.254", "10.9.0.1-10.9.0.254", "10.8.0.1-10.8.0.254",
            ])
        #expect(config.requestedAddresses.map(\.description) == ["10.7.0.9", "10.9.0.9", "10.8.0.9"])
    }
}

@Suite struct HostLocalAllocatorTests {
    func allocator(_ dir: TemporaryDirectory, _ ipam: String, args: String = "", extra: String = "") throws
        -> HostLocalAllocator
    {
        try HostLocalAllocator(
            config: try HostLocalConfig(request: try request(hostLocal(dir, ipam: ipam, extra: extra), args: args)))
    }

    @Test func roundRobinSkipsTheGatewayAndWraps() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir, #""ranges":[[{"subnet":"10.0.0.0/29"}]]"#)  // .1 gateway, .2-.6 free
        var got: [String] = []
        for n in 0..<5 { got += try a.allocate(containerID: "c\(n)", ifName: "eth0").map(\.address.description) }
        #expect(got == ["10.0.0.2/29", "10.0.0.3/29", "10.0.0.4/29", "10.0.0.5/29", "10.0.0.6/29"])
        #expect(throws: CNIError.self) { try a.allocate(containerID: "c9", ifName: "eth0") }
        try a.release(containerID: "c1", ifName: "eth0")
        try a.release(containerID: "c3", ifName: "eth0")
        // After .6 it wraps to the start: .3 (released) comes before .4... but .2 is still held.
        #expect(try a.allocate(containerID: "c10", ifName: "eth0").first?.address.description == "10.0.0.3/29")
        #expect(try a.allocate(containerID: "c11", ifName: "eth0").first?.address.description == "10.0.0.5/29")
        #expect(dir.read("net1/last_reserved_ip.0") == "10.0.0.5")
        #expect(dir.read("net1/10.0.0.5") == "c11\r\neth0")
    }

    @Test func exhaustionNamesTheNetworkAndRange() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(
            dir, #""ranges":[[{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.10","rangeEnd":"10.0.0.10"}]]"#)
        _ = try a.allocate(containerID: "c1", ifName: "eth0")
        do {
            _ = try a.allocate(containerID: "c2", ifName: "eth0")
            Issue.record("allocated from an exhausted range")
        } catch let error as CNIError {
            #expect(error.code == 102)
            #expect(
                error.msg
                    == #"failed to allocate for range 0: no IP addresses available in range set 10.0.0.10-10.0.0.10 of network "net1""#
            )
        }
    }

    @Test func duplicateAllocationIsRefused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir, #""ranges":[[{"subnet":"10.0.0.0/24"}]]"#)
        _ = try a.allocate(containerID: "c1", ifName: "eth0")
        #expect(throws: CNIError.self) { try a.allocate(containerID: "c1", ifName: "eth0") }
        #expect(try a.allocate(containerID: "c1", ifName: "net1").count == 1)
    }

    @Test func requestedAddresses() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let ipam = #""ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"fd00::/64"}]]"#
        let got = try allocator(dir, ipam, args: "IP=10.0.0.77").allocate(containerID: "c1", ifName: "eth0")
        #expect(got.map(\.address.description) == ["10.0.0.77/24", "fd00::2/64"])
        let taken = #expect(throws: CNIError.self) {
            try allocator(dir, ipam, args: "IP=10.0.0.77").allocate(containerID: "c2", ifName: "eth0")
        }
        #expect(taken?.code == 102)
        let gateway = #expect(throws: CNIError.self) {
            try allocator(dir, ipam, args: "IP=10.0.0.1").allocate(containerID: "c3", ifName: "eth0")
        }
        #expect(gateway?.msg.contains("is subnet's gateway") == true)
        let outside = #expect(throws: CNIError.self) {
            try allocator(dir, ipam, args: "IP=10.99.0.1").allocate(containerID: "c4", ifName: "eth0")
        }
        #expect(outside?.msg == "failed to allocate all requested IPs: 10.99.0.1")
        // Nothing of the failed calls stays reserved.
        #expect(dir.files("net1").filter { $0.hasPrefix("10.") || $0.hasPrefix("fd") } == ["10.0.0.77", "fd00::2"])
        let fromArgs = try allocator(
            dir, ipam, extra: #","args":{"cni":{"ips":["fd00::99"]}},"runtimeConfig":{"ips":["10.0.0.88/24"]}"#
        )
        .allocate(containerID: "c5", ifName: "eth0")
        #expect(fromArgs.map(\.address.description) == ["10.0.0.88/24", "fd00::99/64"])
    }

    @Test func releaseFindsLegacyAndReferenceFilesWithoutTheIndex() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir, #""ranges":[[{"subnet":"10.0.0.0/24"}]]"#)
        dir.write("net1/10.0.0.50", "legacy-id")
        dir.write("net1/10.0.0.51", "ref-id\r\neth1")
        #expect(try a.release(containerID: "legacy-id", ifName: "eth0") == [IPAddress("10.0.0.50")!])
        #expect(try a.release(containerID: "ref-id", ifName: "eth1") == [IPAddress("10.0.0.51")!])
        #expect(try a.release(containerID: "ref-id", ifName: "eth1").isEmpty)
        #expect(dir.files("net1") == ["lock"])
    }

    @Test func staleIndexFallsBackToTheFiles() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir, #""ranges":[[{"subnet":"10.0.0.0/24"}]]"#)
        _ = try a.allocate(containerID: "c1", ifName: "eth0")  // 10.0.0.2, indexed
        // Another implementation released it and gave c1 another address behind our back.
        _ = unlink(dir.path + "/net1/10.0.0.2")
        dir.write("net1/10.0.0.40", "c1\r\neth0")
        #expect(try a.addresses(containerID: "c1", ifName: "eth0") == [IPAddress("10.0.0.40")!])
        #expect(try a.release(containerID: "c1", ifName: "eth0") == [IPAddress("10.0.0.40")!])
    }

    @Test func corruptEntriesAreSkippedNotReused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir, #""ranges":[[{"subnet":"10.0.0.0/29"}]]"#)
        _ = try a.allocate(containerID: "seed", ifName: "eth0")  // creates the directory: 10.0.0.2
        dir.write("net1/10.0.0.3", "")  // empty (a crash while writing)
        _ = mkdir(dir.path + "/net1/10.0.0.4", 0o755)  // a directory in the way
        dir.write("net1/garbage-name", "x")
        dir.write("net1/last_reserved_ip.0", "not an address")
        let got = try a.allocate(containerID: "c1", ifName: "eth0")
        #expect(got.first?.address.description == "10.0.0.5/29")
        #expect(try a.release(containerID: "c1", ifName: "eth0") == [IPAddress("10.0.0.5")!])
    }

    @Test func garbageCollectionKeepsValidAttachmentsOnly() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try allocator(dir, #""ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"fd00::/64"}]]"#)
        for id in ["keep1", "drop1", "keep2", "drop2"] { _ = try a.allocate(containerID: id, ifName: "eth0") }
        dir.write("net1/10.0.0.200", "legacy-keep")
        dir.write("net1/10.0.0.201", "legacy-drop")
        dir.write("net1/10.0.0.202", "")
        let released = try a.collectGarbage(valid: [
            Attachment(containerID: "keep1", ifName: "eth0"),
            Attachment(containerID: "keep2", ifName: "eth0"),
            Attachment(containerID: "legacy-keep", ifName: "eth9"),
        ])
        #expect(released.count == 6)
        #expect(
            dir.files("net1") == [
                "10.0.0.2", "10.0.0.200", "10.0.0.4", "fd00::2", "fd00::4", "last_reserved_ip.0", "last_reserved_ip.1",
                "lock",
            ])
        // The legacy reservation of a valid container stays, and so does its entry (the index lists
        // every owner in the store).
        #expect(dir.indexEntries("net1") == ["keep1:eth0", "keep2:eth0", "legacy-keep"])
        #expect(try a.collectGarbage(valid: []).count == 5)
        #expect(dir.files("net1") == ["last_reserved_ip.0", "last_reserved_ip.1", "lock"])
    }

    @Test func resolvConfParsing() {
        let dns = ResolvConf.parse(
            "# comment\n; other\nnameserver 10.0.0.53\nnameserver fd00::53\ndomain example.org\nsearch a.example b.example\noptions ndots:2 edns0\nbogus\n"
        )
        #expect(
            dns
                == DNS(
                    nameservers: ["10.0.0.53", "fd00::53"], domain: "example.org", search: ["a.example", "b.example"],
                    options: ["ndots:2", "edns0"]))
    }
}
