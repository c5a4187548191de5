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

/// One attachment's lease as the daemon keeps it.
final class LeaseRecord: @unchecked Sendable {
    let request: DaemonRequest
    let hardwareAddress: [UInt8]
    var client: DHCPClient
    /// The wall-clock time the lease was granted, kept on disk so a restart resumes it.
    var boundAtWall: Double

    init(request: DaemonRequest, hardwareAddress: [UInt8], client: DHCPClient, boundAtWall: Double) {
        self.request = request
        self.hardwareAddress = hardwareAddress
        self.client = client
        self.boundAtWall = boundAtWall
    }
}

/// Daemon settings (the reference's flags, and ours).
struct DaemonSettings: Sendable {
    /// The longest wait any timeout may ask for (a day): every duration from a flag or a
    /// request is checked against it, so none overflows a poll(2) or timespec conversion.
    static let longestTimeout: Double = 86_400
    /// Requests served at once (a thread each); more are answered with code 11.
    var maximumWorkers = 64
    /// `-resendtimeout`: how long one renewal or rebinding exchange may go on before it waits
    /// for the lease's next timer (the reference's bound on its retries).
    var resendTimeout: Double = 5
    /// `-broadcast`: ask servers for broadcast replies on every interface (off, as the reference).
    var broadcast = false

    var socketPath = "/run/cni/dhcp.sock"
    /// Where the socket is made: `-hostprefix` + `-socketpath`, as the reference does, so a
    /// daemon in a container with the host's / at the prefix serves the plugins' default path.
    var listenPath: String { hostPrefix + socketPath }
    var pidFile: String?
    /// Seconds an ADD may wait for a lease.
    var acquireTimeout: Double = 10
    /// Longest pause between retransmissions.
    var resendMaximum: Double = 62
    var hostPrefix = ""
    var stateDirectory = "/var/lib/cni/swift-dhcp"
}

/// Acquires, renews, persists and releases leases. Thread-safe: each plugin request runs on
/// its own thread (entering the container's netns on that thread only), renewals on one more.
final class LeaseManager: @unchecked Sendable {
    let settings: DaemonSettings
    private let monitor = Monitor()
    private var records: [String: LeaseRecord] = [:]

    init(settings: DaemonSettings) {
        self.settings = settings
    }

    func netnsPath(_ request: DaemonRequest) -> String { settings.hostPrefix + request.netns }

    // MARK: ADD

    /// Runs DISCOVER/OFFER/REQUEST/ACK on the interface inside the container, at most
    /// `timeout` seconds, and keeps the lease. The link is brought up first. Errors name the
    /// interface and what was heard.
    func acquire(_ request: DaemonRequest) throws -> DHCPLease {
        if let lease = monitor.locked({ records[request.key]?.client.lease }) {
            return lease
        }
        let namespace = try NetworkNamespace(path: netnsPath(request))
        let netlink = try RouteNetlink(in: namespace)
        guard let link = try netlink.link(named: request.ifName), let mac = link.address else {
            throw CNIError(
                code: .invalidEnvironment, msg: "interface \"\(request.ifName)\" not found in netns \(request.netns)")
        }
        if !link.isUp { try netlink.setLink(index: link.index, up: true) }
        let transport = try DHCPTransport(interface: request.ifName, in: namespace)
        // Broadcast replies when the daemon is told so (-broadcast), and where a unicast reply
        // cannot reach this interface: ipvlan slaves share the master's MAC, and the master
        // gets frames for an address no slave has yet.
        let broadcast = settings.broadcast || link.kind == "ipvlan" || !transport.receivesUnicast
        var client = DHCPClient(identity: Self.identity(request, hardwareAddress: mac.bytes, broadcast: broadcast))
        client.maximumRetransmit = settings.resendMaximum
        let timeout = min(request.timeout ?? settings.acquireTimeout, settings.acquireTimeout)
        var exchange = DHCPExchange(transport: transport, sendFailuresAreErrors: true)
        let first = client.start(now: MonotonicClock.seconds)
        if let lease = try exchange.run(&client, first: first, until: MonotonicClock.seconds + timeout) {
            // Option 26: the server's MTU for this segment goes on the interface now (the CNI
            // result has no place for it); one the kernel refuses is reported.
            if let mtu = lease.mtu, UInt32(mtu) != link.mtu {
                do {
                    try netlink.setLink(index: link.index, mtu: UInt32(mtu))
                } catch {
                    log("\(request.key): cannot apply the server's MTU \(mtu): \(error)")
                }
            }
            let record = LeaseRecord(
                request: request, hardwareAddress: mac.bytes, client: client,
                boundAtWall: WallClock.seconds - (MonotonicClock.seconds - client.boundAt))
            monitor.locked {
                records[request.key] = record
                monitor.signal()
            }
            persist(record)
            log(
                "acquired \(lease.address) for \(Self.describe(request)) from server \(lease.serverIdentifier), \(lease.leaseSeconds) s"
            )
            return lease
        }
        let sent = exchange.sent
        let heardText = exchange.heardText
        log(
            "error: no lease for \(Self.describe(request)) within \(formatSeconds(timeout)): sent \(sent) messages, \(heardText)"
        )
        throw CNIError(
            code: .tryAgainLater,
            msg:
                "no DHCP lease for \(request.ifName) in netns \(request.netns) within \(formatSeconds(timeout)): sent \(sent) messages, \(heardText)"
        )
    }

    /// Who the client is to the server, built the same way for a first acquire and for a lease
    /// resumed after a restart: the MAC, the client identifier (ours, or the one `provide`d),
    /// the host name, the parameter request list (our defaults and the `request`ed options, or
    /// those alone with `skipDefault`) and the other `provide`d options.
    static func identity(_ request: DaemonRequest, hardwareAddress: [UInt8], broadcast: Bool) -> DHCPClientIdentity {
        var parameters = request.skipDefaultRequests ? [] : DHCPClientIdentity.defaultParameters
        for code in request.requestOptions where !parameters.contains(code) { parameters.append(code) }
        return DHCPClientIdentity(
            hardwareAddress: hardwareAddress, containerID: request.containerID, network: request.network,
            ifName: request.ifName, hostName: request.hostName, parameterRequestList: parameters,
            extraOptions: request.provideOptions.map { (code: $0.0, data: $0.1) }, broadcast: broadcast)
    }

    // MARK: DEL, CHECK, GC

    /// Forgets the lease and sends RELEASE from the leased address (when the namespace and
    /// the address are still there). An unknown attachment is fine.
    func release(_ key: String) {
        guard let record = monitor.locked({ records.removeValue(forKey: key) }) else { return }
        unlink(stateFile(key))
        sendRelease(record)
    }

    private func sendRelease(_ record: LeaseRecord) {
        let client = monitor.locked { record.client }
        let address = client.lease.map { "\($0.address)" } ?? "no address"
        guard let (message, destination) = client.release(),
            let namespace = try? NetworkNamespace(path: netnsPath(record.request)),
            let transport = try? DHCPTransport(interface: record.request.ifName, in: namespace)
        else {
            log(
                "released \(address) of \(Self.describe(record.request)) without telling the server (netns or interface gone)"
            )
            return
        }
        do {
            try transport.send(message, to: destination)
            log(
                "released \(address) of \(Self.describe(record.request)) to server \(client.lease.map { "\($0.serverIdentifier)" } ?? "\(destination)")"
            )
        } catch {
            log("error: RELEASE of \(address) for \(Self.describe(record.request)): \(error)")
        }
    }

    /// "container C, network N, interface I": who a log line is about.
    static func describe(_ request: DaemonRequest) -> String {
        "container \(request.containerID), network \(request.network), interface \(request.ifName)"
    }

    /// The lease of an attachment, when it holds one.
    func lease(_ key: String) -> DHCPLease? { monitor.locked { records[key]?.client.lease } }

    /// Releases the leases of `network` whose attachment is not in `valid`.
    func collectGarbage(network: String, valid: Set<Attachment>) {
        let stale = monitor.locked {
            records.filter {
                $0.value.request.network == network
                    && !valid.contains(
                        Attachment(containerID: $0.value.request.containerID, ifName: $0.value.request.ifName))
            }.map(\.key)
        }
        for key in stale { release(key) }
    }

    // MARK: Renewal

    /// Runs forever: sleeps until the earliest lease timer, then renews, rebinds or re-acquires;
    /// a lease whose namespace is gone is dropped.
    func renewalLoop() -> Never {
        while true {
            let due: [LeaseRecord] = monitor.locked {
                let deadline = records.values.compactMap(\.client.nextDeadline).min()
                if deadline.map({ $0 > MonotonicClock.seconds }) ?? true { monitor.wait(until: deadline) }
                let now = MonotonicClock.seconds
                return records.values.filter { ($0.client.nextDeadline ?? .infinity) <= now }
            }
            for record in due { service(record) }
        }
    }

    private func service(_ record: LeaseRecord) {
        guard let namespace = try? NetworkNamespace(path: netnsPath(record.request)) else {
            log("netns \(record.request.netns) is gone: dropping the lease of \(record.request.key)")
            monitor.locked { _ = records.removeValue(forKey: record.request.key) }
            unlink(stateFile(record.request.key))
            return
        }
        guard let transport = try? DHCPTransport(interface: record.request.ifName, in: namespace) else {
            log(
                "interface \(record.request.ifName) in \(record.request.netns) is gone: dropping the lease of \(record.request.key)"
            )
            monitor.locked { _ = records.removeValue(forKey: record.request.key) }
            unlink(stateFile(record.request.key))
            return
        }
        var client = monitor.locked { record.client }
        var phase = "renewed"
        var removed: DHCPLease?
        var exchange = DHCPExchange(transport: transport, sendFailuresAreErrors: false)
        exchange.beforeEachRound = { client in
            if client.state == .rebinding { phase = "rebound" }
            if client.state == .rebooting { phase = "confirmed after the restart" }
        }
        exchange.onLost = { reason in
            log("lost the lease of \(Self.describe(record.request)): \(reason)")
            if let old = self.monitor.locked({ record.client.lease }), removed == nil {
                self.remove(old, record, namespace)
                removed = old
            }
        }
        let first = client.tick(now: MonotonicClock.seconds)
        if let lease = try? exchange.run(&client, first: first, until: MonotonicClock.seconds + settings.resendTimeout)
        {
            let boundAtWall = WallClock.seconds - (MonotonicClock.seconds - client.boundAt)
            let previous = monitor.locked { () -> DHCPLease? in
                let previous = record.client.lease
                record.boundAtWall = boundAtWall
                record.client = client
                return previous
            }
            persist(record)
            if let gone = removed {
                apply(lease, replacing: gone, record, namespace)
            } else if let previous, previous.address != lease.address {
                apply(lease, replacing: previous, record, namespace)
            }
            log(
                "\(phase) \(lease.address) for \(Self.describe(record.request)) from server \(lease.serverIdentifier), \(lease.leaseSeconds) s"
            )
            return
        }
        monitor.locked { record.client = client }
    }

    /// A lease that brought a different address (or came back after one was lost): the new
    /// address goes on the interface, the old one off (when it differs), and the default
    /// route via the new router.
    private func apply(
        _ lease: DHCPLease, replacing old: DHCPLease, _ record: LeaseRecord, _ namespace: NetworkNamespace
    ) {
        guard let netlink = try? RouteNetlink(in: namespace), let link = try? netlink.link(named: record.request.ifName)
        else { return }
        try? netlink.addAddress(InterfaceAddress(interfaceIndex: link.index, prefix: lease.address))
        if old.address != lease.address {
            try? netlink.deleteAddress(InterfaceAddress(interfaceIndex: link.index, prefix: old.address))
        }
        for route in lease.routes {
            try? netlink.addRoute(
                Route(
                    destination: route.destination, gateway: route.router.v4Value == 0 ? nil : route.router,
                    outputInterfaceIndex: link.index, priority: record.request.priority))
        }
    }

    private func remove(_ lease: DHCPLease, _ record: LeaseRecord, _ namespace: NetworkNamespace) {
        guard let netlink = try? RouteNetlink(in: namespace), let link = try? netlink.link(named: record.request.ifName)
        else { return }
        try? netlink.deleteAddress(InterfaceAddress(interfaceIndex: link.index, prefix: lease.address))
    }

    // MARK: Persistence

    func stateFile(_ key: String) -> String {
        settings.stateDirectory + "/" + FNV1a.hex(FNV1a.hash(key.utf8)) + ".json"
    }

    /// Writes the record to `<stateDirectory>/<hash of key>.json` (POSIX's `AtomicFile`:
    /// temporary file, fsync, rename).
    func persist(_ record: LeaseRecord) {
        // A renewal that finishes after a DEL released the lease must not bring its file back.
        let snapshot = monitor.locked { () -> (lease: DHCPLease, boundAtWall: Double, broadcast: Bool)? in
            guard records[record.request.key] === record, let lease = record.client.lease else { return nil }
            return (lease, record.boundAtWall, record.client.identity.broadcast)
        }
        guard let snapshot else { return }
        var object = record.request.json.objectValue ?? JSONObject()
        object["command"] = nil
        object["mac"] = .string(
            record.hardwareAddress.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":"))
        object["lease"] = LeaseCoding.json(snapshot.lease)
        object["boundAt"] = .number(String(snapshot.boundAtWall))
        object["broadcast"] = .bool(snapshot.broadcast)
        do throws(SystemError) {
            try AtomicFile.replace(
                stateFile(record.request.key), with: Array(JSONValue.object(object).serialized(indent: 2).utf8),
                mode: 0o600, sync: true)
        } catch {
            log("cannot keep the lease of \(record.request.key) on disk: \(error)")
        }
    }

    /// Loads the leases kept on disk and resumes them (expired ones are dropped; one whose
    /// renewal time has passed renews at once).
    func resume() {
        _ = mkdir(settings.stateDirectory, 0o700)
        for name in Directory.entryNames(atPath: settings.stateDirectory) where name.hasSuffix(".json") {
            let path = settings.stateDirectory + "/" + name
            guard let bytes = try? FileIO.readRegularFile(path), let value = try? JSONValue.parse(bytes),
                var object = value.objectValue,
                let leaseValue = object["lease"], let lease = try? LeaseCoding.lease(leaseValue),
                let boundAt = object["boundAt"]?.doubleValue, boundAt.isFinite, boundAt <= WallClock.seconds + 60,
                let macText = object["mac"]?.stringValue,
                let mac = MACAddress(macText)
            else {
                log("ignoring unreadable lease file \(path)")
                continue
            }
            object["command"] = "add"
            guard let request = try? DaemonRequest(json: .object(object)) else { continue }
            let age = WallClock.seconds - boundAt
            if age >= Double(lease.leaseSeconds) {
                log("expired: \(lease.address) of \(Self.describe(request)) ran out while the daemon was down")
                unlink(path)
                continue
            }
            let broadcast = object["broadcast"]?.boolValue ?? settings.broadcast
            var client = DHCPClient(
                identity: Self.identity(request, hardwareAddress: mac.bytes, broadcast: broadcast), resuming: lease,
                boundAt: MonotonicClock.seconds - age, now: MonotonicClock.seconds)
            client.maximumRetransmit = settings.resendMaximum
            // INIT-REBOOT: the server confirms the lease now (REQUEST with option 50), so a
            // restart never costs the address; its renewal timers then start afresh.
            client.confirmAfterRestart(now: MonotonicClock.seconds)
            let record = LeaseRecord(request: request, hardwareAddress: mac.bytes, client: client, boundAtWall: boundAt)
            monitor.locked { records[request.key] = record }
            log("resumed lease \(lease.address) of \(request.key), \(Int(Double(lease.leaseSeconds) - age)) s left")
        }
        monitor.locked { monitor.signal() }
    }
}

func formatSeconds(_ seconds: Double) -> String {
    guard seconds.isFinite, abs(seconds) < 1e15 else { return "\(seconds) s" }
    return seconds == seconds.rounded()
        ? "\(Int(seconds)) s" : "\(Int((seconds * 10).rounded()) / 10).\(Int((seconds * 10).rounded()) % 10) s"
}

/// Daemon log lines on stderr.
func log(_ text: String) {
    FileIO.writeAll(2, "\(timestamp()) dhcp daemon: \(text)\n")
}

/// The wall-clock time as RFC 3339 in UTC with milliseconds: `2026-12-01T11:59:07.123Z`.
func timestamp() -> String {
    let now = WallClock.seconds
    var seconds = time_t(now.rounded(.down))
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    let milliseconds = Int((now - now.rounded(.down)) * 1000)
    let fraction =
        milliseconds < 10 ? "00\(milliseconds)" : (milliseconds < 100 ? "0\(milliseconds)" : "\(milliseconds)")
    return
        "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
}

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
