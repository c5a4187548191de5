import Addressing
import CNI
import DHCP
import HostFakeSupport
import JSON
import Testing

@testable import DHCPService

/// The lease files: their own format (version 2, with the family), and the files of version 1
/// (before it, the socket request's JSON with the lease beside it) still read, so a restart
/// across the upgrade keeps every lease.
@Suite struct LeaseFileTests {
    /// A DHCPv4 lease file as swift-cni wrote it before version 2 (request keys, timeout and
    /// ipFamilies included).
    static let version1IPv4 = #"""
        {"containerID":"c1","network":"dhnet","ifName":"eth0","netns":"/run/netns/c1","hostName":"web-0",
         "timeout":5,"request":[42],"provide":[{"code":77,"value":"gold"}],"skipDefault":true,"priority":300,
         "ipFamilies":["IPv4","IPv6"],"boundAt":1800000900,"mac":"02:00:00:00:00:c1","broadcast":true,"originalMTU":1500,
         "lease":{"address":"10.77.0.150/24","server":"10.77.0.1","leaseSeconds":3600,"renewalSeconds":1800,
         "rebindingSeconds":3150,"routers":["10.77.0.1"],"routes":[],"dns":["10.77.0.1"],"search":["lab"],"mtu":1400}}
        """#

    /// A DHCPv6 lease file of version 1.
    static let version1IPv6 = #"""
        {"containerID":"c1","network":"dhnet","ifName":"eth0","netns":"/run/netns/c1","ipFamilies":["IPv4","IPv6"],
         "boundAt":1800000900,"lease6":{"address":"fd00:77::150","serverID":"00030001020000000001","preferredLifetime":3000,
         "validLifetime":3600,"renewalSeconds":1500,"rebindingSeconds":2400,"dns":["fd00:77::1"],"search":["lab"]}}
        """#

    @Test func version1FilesOfBothFamiliesRead() throws {
        let file4 = try LeaseFile(bytes: Array(Self.version1IPv4.utf8), named: .ipv4)
        #expect(file4.attachment.containerID == "c1" && file4.attachment.hostName == "web-0")
        #expect(file4.attachment.requestOptions == [42] && file4.attachment.skipDefaultRequests)
        #expect(file4.attachment.provideOptions == [LeaseFile.Provided(code: 77, value: Array("gold".utf8))])
        #expect(file4.attachment.priority == 300 && file4.boundAt == 1_800_000_900)
        guard case .ipv4(let lease, let mac, let broadcast, let originalMTU) = file4.lease else {
            Issue.record("not a DHCPv4 lease: \(file4.lease)")
            return
        }
        #expect(lease.address == IPPrefix("10.77.0.150/24") && lease.mtu == 1400 && lease.searchDomains == ["lab"])
        #expect(mac == MACAddress("02:00:00:00:00:c1") && broadcast == true && originalMTU == 1500)

        let file6 = try LeaseFile(bytes: Array(Self.version1IPv6.utf8), named: .ipv6)
        guard case .ipv6(let lease6) = file6.lease else {
            Issue.record("not a DHCPv6 lease: \(file6.lease)")
            return
        }
        #expect(lease6.address == IPAddress("fd00:77::150") && lease6.validLifetime == 3600)
        #expect(lease6.serverIdentifier == [0, 3, 0, 1, 2, 0, 0, 0, 0, 1] && lease6.searchDomains == ["lab"])
    }

    @Test func version2SaysItsVersionAndFamilyAndReadsBackTheSame() throws {
        for (text, family) in [(Self.version1IPv4, LeaseFamily.ipv4), (Self.version1IPv6, .ipv6)] {
            let file = try LeaseFile(bytes: Array(text.utf8), named: family)
            let written = try #require(try JSONValue.parse(file.bytes).objectValue)
            #expect(written["version"] == 2 && written["family"] == .string(family.rawValue))
            #expect(written["timeout"] == nil && written["ipFamilies"] == nil, "socket-only keys stay out")
            #expect(try LeaseFile(bytes: file.bytes, named: family) == file)
        }
    }

    @Test func filesItCannotUseAreRefusedByName() {
        #expect(throws: LeaseFile.ReadError.newerVersion(3)) {
            try LeaseFile(bytes: Array(#"{"version":3,"family":"IPv4","boundAt":1}"#.utf8), named: .ipv4)
        }
        #expect(throws: LeaseFile.ReadError.familyMismatch(found: "IPv6")) {
            try LeaseFile(bytes: Array(#"{"version":2,"family":"IPv6","boundAt":1}"#.utf8), named: .ipv4)
        }
        #expect(throws: LeaseFile.ReadError.unreadable("not a JSON object")) {
            try LeaseFile(bytes: Array("[1]".utf8), named: .ipv4)
        }
        #expect(throws: LeaseFile.ReadError.unreadable("no IPv6 lease")) {
            try LeaseFile(bytes: Array(Self.version1IPv4.utf8), named: .ipv6)
        }
    }

    /// A daemon of this version started on a version-1 state directory resumes both leases,
    /// rewrites their files as version 2 when they next change, and leaves a later version's
    /// file alone.
    @Test func aRestartAcrossTheUpgradeKeepsBothLeases() throws {
        let host = FakeLeaseHost()
        host.addContainer("/run/netns/c1")
        host.files["/state/a.json"] = Array(Self.version1IPv4.utf8)
        host.files["/state/a.v6"] = Array(Self.version1IPv6.utf8)
        let future = Array(#"{"version":9,"family":"IPv4","boundAt":1}"#.utf8)
        host.files["/state/b.json"] = future
        var settings = DaemonSettings()
        settings.stateDirectory = "/state"
        let manager = LeaseManager(settings: settings, host: host)
        manager.resume()
        #expect(manager.lease("c1/dhnet/eth0", Lease4Record.self)?.address == IPPrefix("10.77.0.150/24"))
        #expect(manager.lease("c1/dhnet/eth0", Lease6Record.self)?.address == IPAddress("fd00:77::150"))
        #expect(host.files["/state/b.json"] == future)
        #expect(host.lines.contains { $0.contains("version 9, newer than this daemon's 2") }, "\(host.lines)")
        let record = try #require(manager.monitor.locked { manager.records4.values.first })
        manager.persist(record)
        let rewritten = try #require(host.files[manager.stateFile("c1/dhnet/eth0", .ipv4)])
        #expect(try JSONValue.parse(rewritten)["version"] == 2)
        #expect(try LeaseFile(bytes: rewritten, named: .ipv4).attachment.priority == 300)
    }
}

/// The socket protocol between the plugin and the daemon: versioned apart from the disk format.
@Suite struct DaemonRequestTests {
    @Test func aRequestSaysItsVersionAndReadsBack() throws {
        var request = DaemonRequest(command: .add)
        request.containerID = "c1"
        request.network = "dhnet"
        request.ifName = "eth0"
        request.netns = "/run/netns/c1"
        request.parameters.requestOptions = [42]
        request.parameters.provideOptions = [(77, Array("gold".utf8))]
        request.parameters.priority = 300
        request.parameters.families = [.ipv4, .ipv6]
        #expect(request.json["version"] == 1)
        let read = try DaemonRequest(json: request.json)
        #expect(
            read.key == "c1/dhnet/eth0" && read.parameters.requestOptions == [42] && read.parameters.priority == 300)
        #expect(read.parameters.families == [.ipv4, .ipv6] && read.parameters.provideOptions.map(\.0) == [77])
    }

    @Test func aRequestWithoutAVersionIsVersionOne() throws {
        let old = try JSONValue.parse(
            Array(#"{"command":"del","containerID":"c1","network":"n","ifName":"eth0"}"#.utf8))
        #expect(try DaemonRequest(json: old).key == "c1/n/eth0")
    }

    @Test func aLaterVersionIsRefusedAskingForARestart() throws {
        let newer = try JSONValue.parse(Array(#"{"version":2,"command":"add","containerID":"c1"}"#.utf8))
        let error = try #require(throws: CNIError.self) { try DaemonRequest(json: newer) }
        #expect(error.code == 11 && error.msg.contains("restart the daemon"), "\(error)")
    }
}
