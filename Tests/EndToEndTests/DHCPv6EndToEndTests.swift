import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// DHCPv6 (and DHCPv4 beside it) from dnsmasq on the lab's segment: fd00:77::1/64 on the
/// server, leases fd00:77::100-1ff, router advertisements on (`--enable-ra`), DNS fd00:77::53
/// and search list corp6.example.
extension DHCPLab {
    static let v6Options = [
        "--dhcp-range=fd00:77::100,fd00:77::1ff,64,2m", "--enable-ra", "--ra-param=up0p,3",
        "--dhcp-option=option6:dns-server,[fd00:77::53]", "--dhcp-option=option6:domain-search,corp6.example",
        "--dhcp-rapid-commit",
    ]

    /// A lab whose dnsmasq serves DHCPv6 (and DHCPv4) with `options` added.
    static func dualStack(_ bed: Testbed, _ options: [String] = DHCPLab.v6Options) throws -> DHCPLab {
        let lab = try DHCPLab(bed, server: false)
        try bed.ip(lab.lan, "addr", "add", "fd00:77::1/64", "dev", "up0p", "nodad")
        try lab.startDnsmasq(options)
        return lab
    }

    func config(families: String, timeout: Int? = nil) -> String {
        config(extra: #","ipFamilies":\#(families)"# + (timeout.map { #","timeout":\#($0)"# } ?? ""))
    }
}

@Suite struct DHCPv6EndToEndTests {
    /// Time from the plugin's start to its result, in milliseconds.
    static func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let start = MonotonicClock.seconds
        let value = try body()
        return (value, (MonotonicClock.seconds - start) * 1000)
    }

    /// One ADD with ipFamilies ["IPv4", "IPv6"]: both addresses in the result and on eth0 (the
    /// v6 one as /128, with the advertised router as its gateway once known), DNS of both; the
    /// container reaches the server over IPv6 once the kernel took the advertised prefix; CHECK
    /// passes; DEL releases both (dnsmasq's lease file forgets them); a second DEL succeeds.
    @Test func dualStackLeaseAndReleaseOnDel() throws {
        let bed = try Testbed()
        let lab = try DHCPLab.dualStack(bed)
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        let config = lab.config(families: #"["IPv4","IPv6"]"#)
        let (add, milliseconds) = try Self.timed {
            try bed.plugin("macvlan", "ADD", config: config, host: lab.host, containerID: "c1", netns: bed.path(c1))
        }
        FileIO.writeAll(.standardError, "dhcpv6: dual-stack ADD (macvlan, dnsmasq) \(Int(milliseconds)) ms\n")
        #expect(add.status == 0, "\(add.output)\n\(lab.log("daemon.log"))\n\(lab.log("dnsmasq.log"))")
        let ips = add.json?["ips"]?.arrayValue ?? []
        let v4 = try #require(ips.compactMap { $0["address"]?.stringValue }.first { $0.hasPrefix("10.77.0.") })
        let v6 = try #require(ips.compactMap { $0["address"]?.stringValue }.first { $0.hasPrefix("fd00:77::") })
        #expect(v6.hasSuffix("/128"), "\(v6)")
        let dns = add.json?["dns"]
        #expect(dns?["nameservers"] == ["10.77.0.53", "fd00:77::53"], "\(String(describing: dns))")
        #expect(dns?["search"] == ["corp.example", "corp6.example"], "\(String(describing: dns))")
        let onLink = try bed.ipJSON(c1, "addr", "show", "eth0").arrayValue?.first?["addr_info"]?.arrayValue ?? []
        let present = onLink.map { "\($0["local"]?.stringValue ?? "")/\($0["prefixlen"]?.intValue ?? 0)" }
        #expect(present.contains(v4) && present.contains(v6), "\(present)")
        let v6Address = String(v6.split(separator: "/")[0])
        #expect(lab.leases().contains(v6Address), "\(lab.leases())")
        try lab.waitFor("the advertised prefix in the container") {
            ((try? bed.ip(c1, "-6", "route", "show", "fd00:77::/64")) ?? "").contains("fd00:77::/64")
        }
        #expect(try bed.ping(from: c1, "fd00:77::1"))
        #expect(try bed.ping(from: c1, "10.77.0.1"))

        let check = try lab.check(config, prevResult: add.json, containerID: "c1", netns: c1)
        #expect(check.status == 0, "\(check.output)")

        let del = try bed.plugin(
            "macvlan", "DEL", config: config, host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(del.status == 0, "\(del.output)")
        try lab.waitFor("dnsmasq to drop both leases") {
            let leases = lab.leases()
            return !leases.contains(v6Address) && !leases.contains(String(v4.split(separator: "/")[0]))
        }
        #expect(
            try bed.plugin("macvlan", "DEL", config: config, host: lab.host, containerID: "c1", netns: bed.path(c1))
                .status == 0)
    }

    /// ipFamilies ["IPv6"] alone: only an IPv6 address; two containers get distinct DUIDs and
    /// addresses; `dhcp leases --json` lists them as IPv6. Times to lease are printed.
    @Test func ipv6OnlyDistinctClientsAndListing() throws {
        let bed = try Testbed()
        let lab = try DHCPLab.dualStack(bed)
        defer { lab.tearDown() }
        var addresses: [String] = []
        for name in ["c1", "c2"] {
            let netns = try bed.namespace(name)
            let (add, milliseconds) = try Self.timed {
                try bed.plugin(
                    "macvlan", "ADD", config: lab.config(families: #"["IPv6"]"#), host: lab.host, containerID: name,
                    netns: bed.path(netns))
            }
            FileIO.writeAll(.standardError, "dhcpv6: IPv6-only ADD (macvlan, dnsmasq) \(Int(milliseconds)) ms\n")
            #expect(add.status == 0, "\(add.output)\n\(lab.log("daemon.log"))")
            let ips = add.json?["ips"]?.arrayValue ?? []
            #expect(ips.count == 1)
            addresses += ips.compactMap { $0["address"]?.stringValue }
        }
        #expect(Set(addresses).count == 2 && addresses.allSatisfy { $0.hasPrefix("fd00:77::") }, "\(addresses)")
        let outcome = try ChildProcess.run(
            Testbed.binDirectory + "/dhcp", arguments: ["leases", "-socketpath", lab.socketPath, "--json"],
            environment: [])
        let list = try JSONValue.parse(String(decoding: outcome.standardOutput, as: UTF8.self)).arrayValue ?? []
        #expect(list.count == 2 && list.allSatisfy { $0["family"] == "IPv6" && $0["state"] == "bound" }, "\(list)")
        #expect(Set(list.compactMap { $0["server"]?.stringValue }).count == 1)
        let (v4, milliseconds) = try Self.timed {
            try bed.plugin(
                "macvlan", "ADD", config: lab.config(), host: lab.host, containerID: "c3",
                netns: bed.path(try bed.namespace("c3")))
        }
        #expect(v4.status == 0)
        FileIO.writeAll(.standardError, "dhcpv6: IPv4-only ADD, same lab (macvlan, dnsmasq) \(Int(milliseconds)) ms\n")
    }

    /// A DHCPv6 failure (dnsmasq serves no IPv6 range) fails the dual-stack ADD with code 11
    /// and undoes the DHCPv4 lease that succeeded: RELEASE reaches dnsmasq, no eth0 is left.
    @Test func aFailureOfOneFamilyUndoesBoth() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed)
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        let add = try bed.plugin(
            "macvlan", "ADD", config: lab.config(families: #"["IPv4","IPv6"]"#, timeout: 2), host: lab.host,
            containerID: "c1", netns: bed.path(c1))
        #expect(add.status != 0 && add.json?["code"] == 11, "\(add.output)")
        let message = add.json?["msg"]?.stringValue ?? ""
        #expect(message.contains("DHCPv6"), "\(add.output)")
        try lab.waitFor("the DHCPv4 lease released", seconds: 5) { lab.log("dnsmasq.log").contains("DHCPRELEASE") }
        #expect(!lab.leases().contains("10.77.0."), "\(lab.leases())")
        #expect(((try? bed.ip(c1, "link", "show", "eth0")) ?? "").isEmpty, "eth0 left behind")
    }

    /// Unknown or empty ipFamilies: code 7 naming the key, before anything is made.
    @Test func ipFamiliesAreChecked() throws {
        let bed = try Testbed()
        let lab = try DHCPLab(bed, server: false)
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        for families in [#"["IPv5"]"#, "[]", #""IPv4""#] {
            let add = try bed.plugin(
                "dhcp", "ADD", config: lab.config(families: families), host: lab.host, containerID: "c1",
                netns: bed.path(c1))
            #expect(add.json?["code"] == 7, "\(families): \(add.output)")
            let message = add.json?["msg"]?.stringValue ?? ""
            #expect(message.contains("ipFamilies"), "\(add.output)")
        }
    }

    /// The daemon restarted after a dual-stack ADD resumes both leases: DHCPv6 is confirmed
    /// (CONFIRM, not a new SOLICIT), DHCPv4 too (INIT-REBOOT), and the addresses stay.
    @Test func aRestartKeepsBothLeases() throws {
        let bed = try Testbed()
        let lab = try DHCPLab.dualStack(bed)
        defer { lab.tearDown() }
        let c1 = try bed.namespace("c1")
        let config = lab.config(families: #"["IPv4","IPv6"]"#)
        let add = try bed.plugin(
            "macvlan", "ADD", config: config, host: lab.host, containerID: "c1", netns: bed.path(c1))
        #expect(add.status == 0, "\(add.output)")
        let addresses = Set((add.json?["ips"]?.arrayValue ?? []).compactMap { $0["address"]?.stringValue })
        let solicits = lab.log("dnsmasq.log").occurrences(of: "DHCPSOLICIT")
        lab.stopDaemon()
        try lab.startDaemon()
        try lab.waitFor("the DHCPv6 lease confirmed") {
            lab.log("daemon.log").contains("confirmed after the restart")
                && lab.log("dnsmasq.log").contains("DHCPCONFIRM")
        }
        #expect(lab.log("dnsmasq.log").occurrences(of: "DHCPSOLICIT") == solicits, "\(lab.log("dnsmasq.log"))")
        let check = try lab.check(config, prevResult: add.json, containerID: "c1", netns: c1)
        #expect(check.status == 0, "\(check.output)\n\(lab.log("daemon.log"))")
        let onLink = try bed.ipJSON(c1, "addr", "show", "eth0").arrayValue?.first?["addr_info"]?.arrayValue ?? []
        let present = Set(onLink.map { "\($0["local"]?.stringValue ?? "")/\($0["prefixlen"]?.intValue ?? 0)" })
        #expect(addresses.isSubset(of: present), "\(addresses) vs \(present)")
    }
}

/// DHCPv6 on ipvlan (inside the VM: this host's kernel has no ipvlan): slaves share the
/// master's MAC, so only the per-attachment DUID and IAID tell the containers apart.
@Suite(.enabled(if: Testbed.insideVM, "runs inside integration/vm-run.sh; started by VMSuiteTests"))
struct DHCPv6VMTests {
    /// Two ipvlan containers, dual stack: distinct IPv4 and IPv6 leases, each on its eth0 (the
    /// IPv6 one reachable from the server's side), kept and confirmed across a daemon restart,
    /// released on DEL.
    @Test func ipvlanContainersGetDistinctDualStackLeases() throws {
        let bed = try Testbed()
        let lab = try DHCPLab.dualStack(bed)
        defer { lab.tearDown() }
        let config = lab.config(type: "ipvlan", extra: #","ipFamilies":["IPv4","IPv6"]"#)
        var v6: [String] = []
        var v4: [String] = []
        var namespaces: [String: String] = [:]
        for name in ["c1", "c2"] {
            let ns = try bed.namespace(name)
            namespaces[name] = ns
            let add = try bed.plugin(
                "ipvlan", "ADD", config: config, host: lab.host, containerID: name, netns: bed.path(ns))
            #expect(add.status == 0, "\(add.output)\n\(lab.log("daemon.log"))")
            let ips = (add.json?["ips"]?.arrayValue ?? []).compactMap { $0["address"]?.stringValue }
            v4 += ips.filter { $0.hasPrefix("10.77.0.") }
            v6 += ips.filter { $0.hasPrefix("fd00:77::") }
            try lab.waitFor("the advertised prefix in \(name)") {
                ((try? bed.ip(ns, "-6", "route", "show", "fd00:77::/64")) ?? "").contains("fd00:77::/64")
            }
            #expect(try bed.ping(from: ns, "fd00:77::1"), "\(name) reaches the server over IPv6")
        }
        #expect(Set(v4).count == 2 && Set(v6).count == 2, "\(v4) \(v6)")
        let duids = lab.log("dnsmasq.log").split(separator: "\n").filter { $0.contains("DHCPREPLY") }
            .compactMap { $0.split(separator: " ").last.map(String.init) }
        #expect(Set(duids).count == 2, "two DUIDs: \(duids)")
        // A restarted daemon confirms both DHCPv6 leases (CONFIRM, no new SOLICIT) and keeps them.
        let solicits = lab.log("dnsmasq.log").occurrences(of: "DHCPSOLICIT")
        lab.stopDaemon()
        try lab.startDaemon()
        try lab.waitFor("both leases confirmed", seconds: 30) {
            lab.log("dnsmasq.log").occurrences(of: "DHCPCONFIRM") >= 2
                && lab.log("daemon.log").occurrences(of: "by DHCPv6, valid") >= 4
        }
        #expect(lab.log("dnsmasq.log").occurrences(of: "DHCPSOLICIT") == solicits)
        for (name, ns) in namespaces {
            let present = try bed.ip(ns, "-6", "-o", "address", "show", "dev", "eth0")
            #expect(v6.contains { present.contains($0) }, "\(name) kept its IPv6 address: \(present)")
        }
        for name in ["c1", "c2"] {
            let del = try bed.plugin(
                "ipvlan", "DEL", config: config, host: lab.host, containerID: name,
                netns: bed.path(namespaces[name] ?? ""))
            #expect(del.status == 0, "\(del.output)")
        }
        try lab.waitFor("dnsmasq to drop the IPv6 leases") {
            let leases = lab.leases()
            return v6.allSatisfy { !leases.contains(String($0.split(separator: "/")[0])) }
        }
    }
}
