import Addressing
import CNI
import DHCP
import JSON
import Namespaces
import Netlink
import POSIX

/// ADD for the families an attachment asks for (`ipam.ipFamilies`).
extension LeaseManager {
    /// Where a lease acquired on another thread is handed over.
    private final class Handover: @unchecked Sendable {
        let monitor = Monitor()
        var outcome: Result<(lease: DHCPv6Lease, router: IPAddress?), any Error>?
    }

    /// The daemon's reply to ADD: `lease` (DHCPv4) and/or `lease6` (DHCPv6, with the router the
    /// kernel took from an advertisement). With IPv6 the interface is readied first (optimistic
    /// DAD, before the link comes up); with both families DHCPv4 and DHCPv6 run at once, on
    /// this thread and one more, and a failure of either releases the other's lease: the ADD
    /// fails whole, with the first family's error.
    func acquireAll(_ request: DaemonRequest) throws -> JSONValue {
        if request.parameters.families.contains(.ipv6) {
            try prepareForIPv6(request, try host.openNamespace(netnsPath(request)))
        }
        var reply = JSONObject()
        reply["ok"] = true
        switch (request.parameters.families.contains(.ipv4), request.parameters.families.contains(.ipv6)) {
        case (true, true):
            let handover = Handover()
            let started = Thread.start {
                let outcome = Result { try self.acquire6(request) }
                handover.monitor.locked {
                    handover.outcome = outcome
                    handover.monitor.signal()
                }
            }
            guard started else {
                throw CNIError(code: .tryAgainLater, msg: "the dhcp daemon cannot start a thread for DHCPv6 now")
            }
            let outcome4 = Result { try acquire(request, Lease4Record.self) }
            let outcome6 = handover.monitor.locked {
                () -> Result<(lease: DHCPv6Lease, router: IPAddress?), any Error> in
                while handover.outcome == nil { handover.monitor.wait(until: nil) }
                return handover.outcome ?? .failure(CNIError(code: .internalError, msg: "no DHCPv6 outcome"))
            }
            switch (outcome4, outcome6) {
            case (.success(let lease), .success(let lease6)):
                reply["lease"] = LeaseCoding.json(lease)
                reply["lease6"] = LeaseCoding.json(lease6.lease, router: lease6.router)
            case (.failure(let error), _):
                if case .success = outcome6 { release(request.key, [.ipv6]) }
                throw error
            case (.success, .failure(let error)):
                release(request.key, [.ipv4], addressNotConfigured: true)
                throw error
            }
        case (false, true):
            let (lease6, router) = try acquire6(request)
            reply["lease6"] = LeaseCoding.json(lease6, router: router)
        default:
            reply["lease"] = LeaseCoding.json(try acquire(request, Lease4Record.self))
        }
        return .object(reply)
    }

    /// Runs `body` with `address` on the interface (RTM_NEWADDR, then RTM_DELADDR), unless it
    /// is there already. A failure is logged; `body` runs anyway.
    func withTransientAddress(
        _ address: IPPrefix, on ifName: String, in namespace: any LeaseNamespace, _ body: () -> Void
    ) {
        var added: InterfaceAddress?
        do {
            let netlink = try namespace.netlink()
            if let link = try netlink.link(named: ifName),
                try !netlink.addresses(interfaceIndex: link.index).contains(where: { $0.prefix == address })
            {
                let entry = InterfaceAddress(interfaceIndex: link.index, prefix: address)
                try netlink.addAddress(entry)
                added = entry
            }
            body()
            if let added { try netlink.deleteAddress(added) }
        } catch {
            log("error: the address \(address) for the RELEASE on \(ifName): \(error)")
            if added == nil { body() }
        }
    }
}
