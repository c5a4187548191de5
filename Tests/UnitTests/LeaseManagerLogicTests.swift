import Addressing
import CNI
import DHCP
import HostFakeSupport
import JSON
import Netlink
import Testing

@testable import DHCPService

/// The lease daemon's decisions against FakeLeaseHost: no root, no sockets, no waiting (the
/// clock moves when the test says so or when a client waits for a reply that does not come).
@Suite struct LeaseManagerLogicTests {
    static let path = "/run/netns/c1"

    static func request(_ families: [LeaseFamily] = [.ipv4]) -> DaemonRequest {
        var request = DaemonRequest(command: .add)
        request.containerID = "c1"
        request.network = "dhnet"
        request.ifName = "eth0"
        request.netns = path
        request.parameters.families = families
        return request
    }

    func lab(_ server4: ScriptedServer4 = ScriptedServer4(), _ server6: ScriptedServer6 = ScriptedServer6())
        -> (FakeLeaseHost, LeaseManager)
    {
        let host = FakeLeaseHost()
        host.addContainer(Self.path)
        host.server4 = server4.reply
        host.server6 = server6.reply
        var settings = DaemonSettings()
        settings.stateDirectory = "/state"
        return (host, LeaseManager(settings: settings, host: host))
    }

    /// ADD: the link is brought up, DISCOVER/OFFER/REQUEST/ACK, the lease kept in memory and in
    /// its state file; the daemon does not put the address on (the main plugin does).
    @Test func acquireKeepsTheLeaseAndItsFile() throws {
        let (host, manager) = lab()
        let reply = try manager.acquireAll(Self.request())
        #expect(reply["lease"]?["address"] == "10.77.0.150/24")
        #expect(host.sent4.map { $0.message.messageType } == [.discover, .request])
        #expect(host.files.keys.filter { $0.hasSuffix(".json") }.count == 1)
        #expect(host.node.link("eth0", in: Self.path)?.isUp == true)
        #expect(host.addresses(Self.path).isEmpty)
    }

    /// T1: REQUEST unicast to the server; T2: broadcast; the end of the lease: the address
    /// comes off the interface (logged), and the client starts over with a DISCOVER.
    @Test func renewRebindAndExpiry() throws {
        let (host, manager) = lab()
        _ = try manager.acquireAll(Self.request())
        host.node.namespaces[Self.path]?.addresses.append(
            InterfaceAddress(interfaceIndex: 2, prefix: IPPrefix("10.77.0.150/24")!))
        host.server4 = { _ in [] }
        let bound = host.clock
        host.clock = bound + 60
        manager.serviceDue()
        #expect(host.sent4.last?.message.messageType == .request)
        #expect(host.sent4.last?.destination == .unicast(IPAddress("10.77.0.1")!))
        host.clock = bound + 105
        manager.serviceDue()
        #expect(host.sent4.last?.destination == .broadcast)
        #expect(host.addresses(Self.path) == ["10.77.0.150/24"], "a valid lease keeps its address while retrying")
        host.clock = bound + 120
        manager.serviceDue()
        #expect(host.lines.contains { $0.contains("lost the lease") && $0.contains("expired") }, "\(host.lines)")
        #expect(host.addresses(Self.path).isEmpty)
        #expect(host.sent4.contains { $0.message.messageType == .discover && $0.destination == .broadcast })
    }

    /// A renewal that brings another address moves it: the new one on, the old one off, the
    /// routes via the router.
    @Test func aRenewalWithAnotherAddressMovesIt() throws {
        let (host, manager) = lab()
        _ = try manager.acquireAll(Self.request())
        host.node.namespaces[Self.path]?.addresses.append(
            InterfaceAddress(interfaceIndex: 2, prefix: IPPrefix("10.77.0.150/24")!))
        host.server4 = ScriptedServer4(address: "10.77.0.160").reply
        host.clock += 60
        manager.serviceDue()
        #expect(host.addresses(Self.path) == ["10.77.0.160/24"])
        #expect(host.node.namespaces[Self.path]?.routes.contains { $0.gateway == IPAddress("10.77.0.1") } == true)
        #expect(host.lines.contains { $0.hasPrefix("renewed 10.77.0.160/24") }, "\(host.lines)")
    }

    /// A second manager on the same state (a restarted daemon) resumes the lease and confirms
    /// it with INIT-REBOOT (REQUEST with the address, no DISCOVER); an expired file is dropped.
    @Test func aRestartResumesAndConfirms() throws {
        let (host, manager) = lab()
        _ = try manager.acquireAll(Self.request())
        host.files["/state/stale.json"] = Array(
            #"{"containerID":"old","network":"dhnet","ifName":"eth0","netns":"/run/netns/c1","mac":"02:00:00:00:00:c1","boundAt":1,"lease":{"address":"10.77.0.170/24","server":"10.77.0.1","leaseSeconds":120,"renewalSeconds":60,"rebindingSeconds":105}}"#
                .utf8)
        host.sent4 = []
        host.clock += 10
        let restarted = LeaseManager(settings: manager.settings, host: host)
        restarted.resume()
        #expect(host.files["/state/stale.json"] == nil, "an expired lease is dropped")
        #expect(restarted.lease("c1/dhnet/eth0", Lease4Record.self)?.address == IPPrefix("10.77.0.150/24"))
        restarted.serviceDue()
        #expect(host.sent4.first?.message.messageType == .request)
        #expect(host.sent4.first?.message.option(50) == [10, 77, 0, 150])
        #expect(!host.sent4.contains { $0.message.messageType == .discover })
        #expect(host.lines.contains { $0.contains("confirmed after the restart") }, "\(host.lines)")
    }

    /// A rogue server: lease 0 with T1 = T2 = 0 is a lease of 60 s renewed after 30; an MTU of
    /// 68 is not applied; a sane MTU is, and DEL puts the interface's own back.
    @Test func rogueValuesAreNotObeyed() throws {
        let (host, manager) = lab(ScriptedServer4(lease: 0, t1: 0, t2: 0, mtu: 68))
        let reply = try manager.acquireAll(Self.request())
        #expect(reply["lease"]?["leaseSeconds"] == 60 && reply["lease"]?["renewalSeconds"] == 30)
        #expect(host.node.link("eth0", in: Self.path)?.mtu == 1500)
        let (saneHost, saneManager) = lab(ScriptedServer4(mtu: 1400))
        _ = try saneManager.acquireAll(Self.request())
        #expect(saneHost.node.link("eth0", in: Self.path)?.mtu == 1400)
        saneManager.release("c1/dhnet/eth0")
        #expect(saneHost.node.link("eth0", in: Self.path)?.mtu == 1500)
        #expect(saneHost.sent4.last?.message.messageType == .release)
        #expect(saneHost.files.isEmpty)
    }

    /// DHCPv6: the interface readied (optimistic DAD before the link comes up), SOLICIT with
    /// Rapid Commit, RENEW at T1; a restarted manager confirms with CONFIRM, no new SOLICIT.
    @Test func dhcpv6AcquireRenewAndConfirm() throws {
        let (host, manager) = lab()
        let reply = try manager.acquireAll(Self.request([.ipv6]))
        #expect(reply["lease6"]?["address"] == "fd00:77::150" && reply["lease"] == nil)
        #expect(host.sysctls["eth0.optimistic_dad"] == "1" && host.sysctls["eth0.use_optimistic"] == "1")
        #expect(host.sent6.map(\.type) == [.solicit])
        host.clock += 60
        manager.serviceDue()
        #expect(host.sent6.last?.type == .renew)
        host.sent6 = []
        let restarted = LeaseManager(settings: manager.settings, host: host)
        restarted.resume()
        restarted.serviceDue()
        #expect(host.sent6.map(\.type) == [.confirm], "\(host.sent6.map(\.type))")
        #expect(restarted.lease("c1/dhnet/eth0", Lease6Record.self)?.address == IPAddress("fd00:77::150"))
        restarted.release("c1/dhnet/eth0", [.ipv6])
        #expect(host.sent6.last?.type == .release && host.files.filter { $0.key.hasSuffix(".v6") }.isEmpty)
    }

    /// A DHCPv6 lease that runs out while rebinding comes off the interface; the server that
    /// answers the SOLICIT which follows, in the same exchange, grants the same address: it
    /// goes back on (as a /128 without DAD), as DHCPv4's does.
    @Test func aDHCPv6LeaseLostAndGrantedAgainIsBackOn() throws {
        let (host, manager) = lab()
        _ = try manager.acquireAll(Self.request([.ipv6]))
        host.node.namespaces[Self.path]?.addresses.append(
            InterfaceAddress(interfaceIndex: 2, prefix: IPPrefix("fd00:77::150/128")!))
        let bound = host.clock
        host.server6 = { [host] message in host.clock >= bound + 120 ? ScriptedServer6().reply(message) : [] }
        host.clock = bound + 117
        manager.serviceDue()
        #expect(host.lines.contains { $0.contains("lost the DHCPv6 lease") }, "\(host.lines)")
        #expect(host.sent6.map(\.type).suffix(2) == [.rebind, .solicit], "\(host.sent6.map(\.type))")
        #expect(host.addresses(Self.path) == ["fd00:77::150/128"], "\(host.lines)")
        #expect(
            host.lines.contains { $0.hasPrefix("renewed fd00:77::150 for") || $0.hasPrefix("rebound fd00:77::150 for") }
        )
    }

    /// A DHCPv6 server that is silent: the IPv6-only ADD fails with code 11 naming what was
    /// sent and heard, and nothing is kept.
    @Test func noDHCPv6ServerIsCodeElevenAndKeepsNothing() throws {
        let (host, manager) = lab()
        host.server6 = { _ in [] }
        var request = Self.request([.ipv6])
        request.parameters.timeout = 3
        #expect {
            try manager.acquireAll(request)
        } throws: { error in
            guard let error = error as? CNIError else { return false }
            return error.code == 11 && error.msg.contains("DHCPv6") && error.msg.contains("heard nothing")
        }
        #expect(host.files.isEmpty && manager.lease("c1/dhnet/eth0", Lease6Record.self) == nil)
    }

    /// A namespace that is gone at renewal: the lease is dropped and its file removed.
    @Test func aLeaseWhoseNamespaceIsGoneIsDropped() throws {
        let (host, manager) = lab()
        _ = try manager.acquireAll(Self.request())
        host.node.namespaces[Self.path] = nil
        host.clock += 60
        manager.serviceDue()
        #expect(manager.lease("c1/dhnet/eth0", Lease4Record.self) == nil && host.files.isEmpty)
        #expect(host.lines.contains { $0.contains("is gone: dropping the lease") })
    }
}
