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

/// What a client asks the exchange to do: one shape for DHCPv4's and DHCPv6's actions.
enum ExchangeStep<Outgoing, Lease> {
    case send(Outgoing)
    case bound(Lease)
    case lost(String)
}

/// A client state machine the exchange drives (DHCPClient, DHCPv6Client).
protocol ExchangeClient {
    associatedtype Incoming
    associatedtype Outgoing
    associatedtype Lease
    var nextDeadline: Double? { get }
    mutating func steps(receiving message: Incoming, now: Double) -> [ExchangeStep<Outgoing, Lease>]
    mutating func steps(tickingAt now: Double) -> [ExchangeStep<Outgoing, Lease>]
}

/// One DHCP exchange, for a first lease and for every renewal alike, DHCPv4 or DHCPv6:
/// performs the client's actions (sending through `channel`), feeds it what arrives and its
/// timers, and returns the lease once it is bound, or nil when `deadline` passes first.
/// Counts what it sent and heard, for the error that says so.
struct DHCPExchange<Client: ExchangeClient> {
    let channel: DHCPChannel<Client.Incoming, Client.Outgoing>
    /// Seconds on the host's monotonic clock.
    let clock: () -> Double
    /// A first lease fails at once when sending fails; a renewal retries at its next timer.
    let sendFailuresAreErrors: Bool
    var beforeEachRound: (Client) -> Void = { _ in }
    var onLost: (String) -> Void = { _ in }
    private(set) var sent = 0
    private(set) var heard: [String: Int] = [:]

    init(
        channel: DHCPChannel<Client.Incoming, Client.Outgoing>, clock: @escaping () -> Double,
        sendFailuresAreErrors: Bool
    ) {
        self.channel = channel
        self.clock = clock
        self.sendFailuresAreErrors = sendFailuresAreErrors
    }

    var heardText: String {
        heard.isEmpty
            ? "heard nothing"
            : "heard " + heard.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    }

    mutating func run(
        _ client: inout Client, first: [ExchangeStep<Client.Outgoing, Client.Lease>], until deadline: Double
    )
        throws -> Client.Lease?
    {
        var steps = first
        while true {
            beforeEachRound(client)
            for step in steps {
                switch step {
                case .send(let message):
                    do {
                        try channel.send(message)
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
            let now = clock()
            if now >= deadline { return nil }
            // Until the client's next timer (a retransmission already due: at once), or the end.
            let wait = max(0, min(deadline, client.nextDeadline ?? deadline) - now)
            if let message = channel.receive(wait) {
                heard[channel.label(message), default: 0] += 1
                steps = client.steps(receiving: message, now: clock())
            } else {
                steps = client.steps(tickingAt: clock())
            }
        }
    }
}

extension DHCPClient: ExchangeClient {
    typealias Outgoing = (DHCPMessage, DHCPDestination)

    static func steps(_ actions: [DHCPAction]) -> [ExchangeStep<Outgoing, DHCPLease>] {
        actions.map {
            switch $0 {
            case .send(let message, let destination): .send((message, destination))
            case .bound(let lease): .bound(lease)
            case .lost(let reason): .lost(reason)
            }
        }
    }

    mutating func steps(receiving message: DHCPMessage, now: Double) -> [ExchangeStep<Outgoing, DHCPLease>] {
        Self.steps(receive(message, now: now))
    }

    mutating func steps(tickingAt now: Double) -> [ExchangeStep<Outgoing, DHCPLease>] { Self.steps(tick(now: now)) }
}

extension DHCPv6Client: ExchangeClient {
    static func steps(_ actions: [DHCPv6Action]) -> [ExchangeStep<DHCPv6Message, DHCPv6Lease>] {
        actions.map {
            switch $0 {
            case .send(let message): .send(message)
            case .bound(let lease): .bound(lease)
            case .lost(let reason): .lost(reason)
            }
        }
    }

    mutating func steps(receiving message: DHCPv6Message, now: Double) -> [ExchangeStep<DHCPv6Message, DHCPv6Lease>] {
        Self.steps(receive(message, now: now))
    }

    mutating func steps(tickingAt now: Double) -> [ExchangeStep<DHCPv6Message, DHCPv6Lease>] {
        Self.steps(tick(now: now))
    }
}
