import Addressing
import CNI
import CSystem
import DHCP
import JSON
import KernelErrors
import Namespaces
import Netlink
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// One DHCP exchange, for a first lease and for every renewal alike: performs the client's
/// actions (sending through `transport`), feeds it what arrives and its timers, and returns the
/// lease once it is bound, or nil when `deadline` passes first. Counts what it sent and heard,
/// for the error that says so.
struct DHCPExchange {
    let transport: DHCPTransport
    /// A first lease fails at once when sending fails; a renewal retries at its next timer.
    let sendFailuresAreErrors: Bool
    var beforeEachRound: (DHCPClient) -> Void = { _ in }
    var onLost: (String) -> Void = { _ in }
    private(set) var sent = 0
    private(set) var heard: [String: Int] = [:]

    init(transport: DHCPTransport, sendFailuresAreErrors: Bool) {
        self.transport = transport
        self.sendFailuresAreErrors = sendFailuresAreErrors
    }

    var heardText: String {
        heard.isEmpty
            ? "heard nothing"
            : "heard " + heard.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    }

    mutating func run(_ client: inout DHCPClient, first: [DHCPAction], until deadline: Double) throws -> DHCPLease? {
        var actions = first
        while true {
            beforeEachRound(client)
            for action in actions {
                switch action {
                case .send(let message, let destination):
                    do {
                        try transport.send(message, to: destination)
                        sent += 1
                    } catch {
                        if sendFailuresAreErrors { throw error }
                    }
                case .bound(let lease):
                    return lease
                case .lost(let reason):
                    onLost(reason)
                }
            }
            let now = MonotonicClock.seconds
            if now >= deadline { return nil }
            // Until the client's next timer (a retransmission already due: at once), or the end.
            let wait = max(0, min(deadline, client.nextDeadline ?? deadline) - now)
            if let message = transport.receive(timeout: wait) {
                heard[message.messageType.map { "\($0)".uppercased() } ?? "other", default: 0] += 1
                actions = client.receive(message, now: MonotonicClock.seconds)
            } else {
                actions = client.tick(now: MonotonicClock.seconds)
            }
        }
    }
}
