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

/// The lease records on disk: one JSON file per attachment under the state directory, written
/// atomically after every change and read back when the daemon starts.
extension LeaseManager {
    func stateFile(_ key: String) -> String {
        settings.stateDirectory + "/" + FNV1a.hex(FNV1a.hash(key.utf8)) + ".json"
    }

    /// Writes the record to `<stateDirectory>/<hash of key>.json` (POSIX's `AtomicFile`:
    /// temporary file, fsync, rename).
    func persist(_ record: LeaseRecord) {
        // A renewal that finishes after a DEL released the lease must not bring its file back.
        let snapshot = monitor.locked { () -> (lease: DHCPLease, boundAtWall: Double, broadcast: Bool)? in
            guard records[ExactKey(record.request.key)] === record, let lease = record.client.lease else { return nil }
            return (lease, record.boundAtWall, record.client.identity.broadcast)
        }
        guard let snapshot else { return }
        keep(record.request, boundAt: snapshot.boundAtWall, at: stateFile(record.request.key)) { object in
            object["mac"] = MACAddress(bytes: record.hardwareAddress).map { .string($0.description) }
            object["lease"] = LeaseCoding.json(snapshot.lease)
            object["broadcast"] = .bool(snapshot.broadcast)
            if let mtu = record.originalMTU { object["originalMTU"] = .integer(mtu) }
        }
    }

    /// Writes the request's JSON (without its command), `boundAt` and what `fill` adds to
    /// `path` through the host (temporary file, fsync, rename); a failure is logged.
    func keep(_ request: DaemonRequest, boundAt: Double, at path: String, _ fill: (inout JSONObject) -> Void) {
        var object = request.json.objectValue ?? JSONObject()
        object["command"] = nil
        object["boundAt"] = .number(String(boundAt))
        fill(&object)
        do {
            try host.writeState(path, Array(JSONValue.object(object).serialized(indent: 2).utf8))
        } catch {
            log("cannot keep the lease of \(Self.describe(request)) on disk (\(path)): \(error)")
        }
    }

    /// Loads the leases kept on disk and resumes them (expired ones are dropped; one whose
    /// renewal time has passed renews at once).
    func resume() {
        let kept = keptLeases(suffix: ".json") { (object) -> ((DHCPLease, MACAddress), IPPrefix, UInt32)? in
            guard let value = object["lease"], let lease = try? LeaseCoding.lease(value),
                let mac = object["mac"]?.stringValue.flatMap({ MACAddress($0) })
            else { return nil }
            return ((lease, mac), lease.address, lease.leaseSeconds)
        }
        for (object, request, (lease, mac), boundAt, age) in kept {
            let broadcast = object["broadcast"]?.boolValue ?? settings.broadcast
            var client = DHCPClient(
                identity: Self.identity(request, hardwareAddress: mac.bytes, broadcast: broadcast), resuming: lease,
                boundAt: host.monotonicSeconds - age, now: host.monotonicSeconds)
            client.maximumRetransmit = settings.resendMaximum
            // INIT-REBOOT: the server confirms the lease now (REQUEST with option 50), so a
            // restart never costs the address; its renewal timers then start afresh.
            client.confirmAfterRestart(now: host.monotonicSeconds)
            let originalMTU = object["originalMTU"]?.integer(as: UInt32.self)
            let record = LeaseRecord(
                request: request, hardwareAddress: mac.bytes, client: client, boundAtWall: boundAt,
                originalMTU: originalMTU)
            monitor.locked { records[ExactKey(request.key)] = record }
            log("resumed lease \(lease.address) of \(request.key), \(Int(Double(lease.leaseSeconds) - age)) s left")
        }
        monitor.locked { monitor.signal() }
    }
}

/// The DHCPv6 leases on disk, beside the DHCPv4 ones: `<hash of key>.v6`, the request and the
/// lease, read back when the daemon starts and confirmed with the server (CONFIRM).
extension LeaseManager {
    func stateFile6(_ key: String) -> String {
        settings.stateDirectory + "/" + FNV1a.hex(FNV1a.hash(key.utf8)) + ".v6"
    }

    func persist6(_ record: Lease6Record) {
        let snapshot = monitor.locked { () -> (lease: DHCPv6Lease, boundAtWall: Double)? in
            guard records6[ExactKey(record.request.key)] === record, let lease = record.client.lease else { return nil }
            return (lease, record.boundAtWall)
        }
        guard let snapshot else { return }
        keep(record.request, boundAt: snapshot.boundAtWall, at: stateFile6(record.request.key)) {
            $0["lease6"] = LeaseCoding.json(snapshot.lease)
        }
    }

    /// Loads the DHCPv6 leases kept on disk (expired ones are dropped) and confirms each.
    func resume6() {
        let kept = keptLeases(suffix: ".v6") { (object) -> (DHCPv6Lease, IPAddress, UInt32)? in
            guard let value = object["lease6"], let (lease, _) = try? LeaseCoding.lease6(value) else { return nil }
            return (lease, lease.address, lease.validLifetime)
        }
        for (_, request, lease, boundAt, age) in kept {
            var client = DHCPv6Client(
                identity: Self.identity6(request), resuming: lease, boundAt: host.monotonicSeconds - age)
            client.maximumRetransmit = settings.resendMaximum
            // CONFIRM at the next turn of the renewal loop: the address is kept unless the
            // server says it is not on this link.
            client.prepareToConfirm(now: host.monotonicSeconds)
            monitor.locked {
                records6[ExactKey(request.key)] = Lease6Record(request: request, client: client, boundAtWall: boundAt)
            }
            log(
                "resumed DHCPv6 lease \(lease.address) of \(request.key), \(Int(Double(lease.validLifetime) - age)) s left"
            )
        }
        monitor.locked { monitor.signal() }
    }

    /// `dhcp leases` lines for the DHCPv6 leases, keyed for sorting beside the DHCPv4 ones.
    func listing6() -> [(String, JSONValue)] {
        let held = monitor.locked { Array(records6.values).map { ($0.request, $0.client, $0.boundAtWall) } }
        return held.compactMap { request, client, boundAtWall in
            guard let lease = client.lease else { return nil }
            let state: String =
                switch client.state {
                case .bound: "bound"
                case .renewing: "renewing"
                case .rebinding: "rebinding"
                case .confirming: "confirming"
                default: "acquiring"
                }
            let entry: JSONValue = [
                "container": .string(request.containerID), "network": .string(request.network),
                "interface": .string(request.ifName), "family": "IPv6", "address": .string(lease.address.description),
                "server": .string(LeaseCoding.hex(lease.serverIdentifier)),
                "state": .string(state), "expires": .string(timestamp(boundAtWall + Double(lease.validLifetime))),
            ]
            return (request.containerID + "/" + request.ifName + "/6", entry)
        }
    }

    /// The lease files ending in `suffix`: each one's JSON, request, lease (from `read`: the
    /// lease, its address and lifetime), wall-clock grant time and age. An unreadable file is
    /// logged and left; an expired lease is logged and its file removed.
    func keptLeases<Lease, Address>(
        suffix: String, read: (JSONObject) -> (Lease, Address, UInt32)?
    ) -> [(object: JSONObject, request: DaemonRequest, lease: Lease, boundAt: Double, age: Double)] {
        var kept: [(object: JSONObject, request: DaemonRequest, lease: Lease, boundAt: Double, age: Double)] = []
        for (name, bytes) in host.stateFiles(in: settings.stateDirectory) where name.hasSuffix(suffix) {
            let path = settings.stateDirectory + "/" + name
            guard var object = (try? JSONValue.parse(bytes))?.objectValue,
                let (lease, address, lifetime) = read(object),
                let boundAt = object["boundAt"]?.doubleValue, boundAt.isFinite, boundAt <= host.wallSeconds + 60
            else {
                log("ignoring unreadable lease file \(path)")
                continue
            }
            object["command"] = "add"
            guard let request = try? DaemonRequest(json: .object(object)) else { continue }
            let age = host.wallSeconds - boundAt
            if age >= Double(lifetime) {
                log("expired: \(address) of \(Self.describe(request)) ran out while the daemon was down")
                host.removeState(path)
                continue
            }
            kept.append((object, request, lease, boundAt, age))
        }
        return kept
    }
}
