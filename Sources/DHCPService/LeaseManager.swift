import Addressing
import CNI
import CSystem
import DHCP
import JSON
import ProcessRunner
import Namespaces
import Netlink
#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with a condition variable (plugin binaries use no Foundation).
final class Monitor: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()

    init() {
        pthread_mutex_init(&mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(&condition, &attributes)
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }

    /// Waits (the lock held by the caller) until signalled or until `deadline` (monotonic s).
    func wait(until deadline: Double?) {
        guard let deadline else { pthread_cond_wait(&condition, &mutex); return }
        var time = timespec(tv_sec: Int(deadline), tv_nsec: Int((deadline - Double(Int(deadline))) * 1e9))
        pthread_cond_timedwait(&condition, &mutex, &time)
    }

    func signal() { pthread_cond_broadcast(&condition) }
}

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
    var socketPath = "/run/cni/dhcp.sock"
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
        if let existing = monitor.locked({ records[request.key] }), let lease = existing.client.lease {
            return lease
        }
        let namespace = try NetworkNamespace(path: netnsPath(request))
        let netlink = try RouteNetlink(in: namespace)
        guard let link = try netlink.link(named: request.ifName), let mac = link.address else {
            throw CNIError(code: .invalidEnvironment, msg: "interface \"\(request.ifName)\" not found in netns \(request.netns)")
        }
        if !link.isUp { try netlink.setLink(index: link.index, up: true) }
        var parameters = DHCPClientIdentity.defaultParameters
        for code in request.requestOptions where !parameters.contains(code) { parameters.append(code) }
        let identity = DHCPClientIdentity(hardwareAddress: mac.bytes, containerID: request.containerID, network: request.network,
                                          ifName: request.ifName, hostName: request.hostName, parameterRequestList: parameters,
                                          extraOptions: request.provideOptions.map { (code: $0.0, data: $0.1) })
        var client = DHCPClient(identity: identity)
        client.maximumRetransmit = settings.resendMaximum
        let transport = try DHCPTransport(interface: request.ifName, in: namespace)
        let timeout = min(request.timeout ?? settings.acquireTimeout, settings.acquireTimeout)
        let deadline = Monotonic.now + timeout
        var sent = 0, heard: [String: Int] = [:]
        var actions = client.start(now: Monotonic.now)
        while true {
            for action in actions {
                switch action {
                case .send(let message, let destination):
                    try transport.send(message, to: destination)
                    sent += 1
                case .bound(let lease):
                    // Option 26: the server's MTU for this segment goes on the interface now (the
                    // CNI result has no place for it); one the kernel refuses is reported.
                    if let mtu = lease.mtu, UInt32(mtu) != link.mtu {
                        do {
                            try netlink.setLink(index: link.index, mtu: UInt32(mtu))
                        } catch {
                            log("\(request.key): cannot apply the server's MTU \(mtu): \(error)")
                        }
                    }
                    let record = LeaseRecord(request: request, hardwareAddress: mac.bytes, client: client,
                                             boundAtWall: Monotonic.wall - (Monotonic.now - client.boundAt))
                    monitor.locked { records[request.key] = record; monitor.signal() }
                    persist(record)
                    return lease
                case .lost:
                    break
                }
            }
            let now = Monotonic.now
            if now >= deadline { break }
            let wait = min(deadline, client.nextDeadline ?? deadline) - now
            if let message = transport.receive(timeout: wait) {
                heard[message.messageType.map { "\($0)".uppercased() } ?? "other", default: 0] += 1
                actions = client.receive(message, now: Monotonic.now)
            } else {
                actions = client.tick(now: Monotonic.now)
            }
        }
        let heardText = heard.isEmpty ? "heard nothing" : "heard " + heard.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        throw CNIError(code: .tryAgainLater,
                       msg: "no DHCP lease for \(request.ifName) in netns \(request.netns) within \(formatSeconds(timeout)): sent \(sent) messages, \(heardText)")
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
        guard let (message, destination) = record.client.release(),
              let namespace = try? NetworkNamespace(path: netnsPath(record.request)),
              let transport = try? DHCPTransport(interface: record.request.ifName, in: namespace) else { return }
        try? transport.send(message, to: destination)
    }

    /// The lease of an attachment, when it holds one.
    func lease(_ key: String) -> DHCPLease? { monitor.locked { records[key]?.client.lease } }

    /// Releases the leases of `network` whose attachment is not in `valid`.
    func collectGarbage(network: String, valid: Set<Attachment>) {
        let stale = monitor.locked {
            records.filter { $0.value.request.network == network
                && !valid.contains(Attachment(containerID: $0.value.request.containerID, ifName: $0.value.request.ifName)) }.map(\.key)
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
                if deadline.map({ $0 > Monotonic.now }) ?? true { monitor.wait(until: deadline) }
                let now = Monotonic.now
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
            log("interface \(record.request.ifName) in \(record.request.netns) is gone: dropping the lease of \(record.request.key)")
            monitor.locked { _ = records.removeValue(forKey: record.request.key) }
            unlink(stateFile(record.request.key))
            return
        }
        var client = monitor.locked { record.client }
        var removed: DHCPLease?
        var actions = client.tick(now: Monotonic.now)
        let giveUp = Monotonic.now + 5
        while true {
            for action in actions {
                switch action {
                case .send(let message, let destination):
                    try? transport.send(message, to: destination)
                case .bound(let lease):
                    let previous = record.client.lease
                    record.boundAtWall = Monotonic.wall - (Monotonic.now - client.boundAt)
                    monitor.locked { record.client = client }
                    persist(record)
                    if let gone = removed {
                        apply(lease, replacing: gone, record, namespace)
                    } else if let previous, previous.address != lease.address {
                        apply(lease, replacing: previous, record, namespace)
                    }
                    log("lease \(lease.address) of \(record.request.key) renewed for \(lease.leaseSeconds) s")
                    return
                case .lost(let reason):
                    log("\(record.request.key): \(reason)")
                    if let old = record.client.lease, removed == nil { remove(old, record, namespace); removed = old }
                }
            }
            let now = Monotonic.now
            let wait = min(giveUp, client.nextDeadline ?? giveUp) - now
            if wait <= 0 { break }
            if let message = transport.receive(timeout: wait) {
                actions = client.receive(message, now: Monotonic.now)
            } else {
                actions = client.tick(now: Monotonic.now)
            }
        }
        monitor.locked { record.client = client }
    }

    /// A lease that brought a different address (or came back after one was lost): the new
    /// address goes on the interface, the old one off (when it differs), and the default
    /// route via the new router.
    private func apply(_ lease: DHCPLease, replacing old: DHCPLease, _ record: LeaseRecord, _ namespace: NetworkNamespace) {
        guard let netlink = try? RouteNetlink(in: namespace), let link = try? netlink.link(named: record.request.ifName) else { return }
        try? netlink.addAddress(InterfaceAddress(interfaceIndex: link.index, prefix: lease.address))
        if old.address != lease.address {
            try? netlink.deleteAddress(InterfaceAddress(interfaceIndex: link.index, prefix: old.address))
        }
        for route in lease.routes {
            try? netlink.addRoute(Route(destination: route.destination, gateway: route.router.v4Value == 0 ? nil : route.router,
                                        outputInterfaceIndex: link.index))
        }
    }

    private func remove(_ lease: DHCPLease, _ record: LeaseRecord, _ namespace: NetworkNamespace) {
        guard let netlink = try? RouteNetlink(in: namespace), let link = try? netlink.link(named: record.request.ifName) else { return }
        try? netlink.deleteAddress(InterfaceAddress(interfaceIndex: link.index, prefix: lease.address))
    }

    // MARK: Persistence

    func stateFile(_ key: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return settings.stateDirectory + "/" + String(repeating: "0", count: 16 - hex.count) + hex + ".json"
    }

    /// Writes the record to `<stateDirectory>/<hash of key>.json` (temporary file + rename).
    func persist(_ record: LeaseRecord) {
        // A renewal that finishes after a DEL released the lease must not bring its file back.
        guard let lease = record.client.lease, monitor.locked({ records[record.request.key] === record }) else { return }
        var object = record.request.json.objectValue ?? JSONObject()
        object["command"] = nil
        object["mac"] = .string(record.hardwareAddress.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":"))
        object["lease"] = LeaseCoding.json(lease)
        object["boundAt"] = .number(String(record.boundAtWall))
        let path = stateFile(record.request.key)
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { log("cannot write \(temporary): \(String(cString: strerror(errno)))"); return }
        let written = FileIO.writeAll(fd, JSONValue.object(object).serialized(indent: 2))
        fsync(fd)
        close(fd)
        if written { rename(temporary, path) } else { unlink(temporary) }
    }

    /// Loads the leases kept on disk and resumes them (expired ones are dropped; one whose
    /// renewal time has passed renews at once).
    func resume() {
        _ = mkdir(settings.stateDirectory, 0o700)
        guard let directory = opendir(settings.stateDirectory) else { return }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasSuffix(".json") else { continue }
            let path = settings.stateDirectory + "/" + name
            guard let bytes = try? FileIO.readFile(path), let value = try? JSONValue.parse(bytes), var object = value.objectValue,
                  let leaseValue = object["lease"], let lease = try? LeaseCoding.lease(leaseValue),
                  let boundAt = object["boundAt"]?.doubleValue, let macText = object["mac"]?.stringValue,
                  let mac = MACAddress(macText) else {
                log("ignoring unreadable lease file \(path)")
                continue
            }
            object["command"] = "add"
            guard let request = try? DaemonRequest(json: .object(object)) else { continue }
            let age = Monotonic.wall - boundAt
            if age >= Double(lease.leaseSeconds) {
                log("lease \(lease.address) of \(request.key) expired while the daemon was down")
                unlink(path)
                continue
            }
            let identity = DHCPClientIdentity(hardwareAddress: mac.bytes, containerID: request.containerID, network: request.network,
                                              ifName: request.ifName, hostName: request.hostName,
                                              extraOptions: request.provideOptions.map { (code: $0.0, data: $0.1) })
            var client = DHCPClient(identity: identity, resuming: lease, boundAt: Monotonic.now - age, now: Monotonic.now)
            client.maximumRetransmit = settings.resendMaximum
            let record = LeaseRecord(request: request, hardwareAddress: mac.bytes, client: client, boundAtWall: boundAt)
            monitor.locked { records[request.key] = record }
            log("resumed lease \(lease.address) of \(request.key), \(Int(Double(lease.leaseSeconds) - age)) s left")
        }
        monitor.locked { monitor.signal() }
    }
}

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(Int((seconds * 10).rounded()) / 10).\(Int((seconds * 10).rounded()) % 10) s"
}

/// Daemon log lines on stderr.
func log(_ text: String) {
    FileIO.writeAll(2, "dhcp daemon: \(text)\n")
}
