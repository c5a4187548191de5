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
        var object = record.request.json.objectValue ?? JSONObject()
        object["command"] = nil
        object["mac"] = .string(
            record.hardwareAddress.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":"))
        object["lease"] = LeaseCoding.json(snapshot.lease)
        object["boundAt"] = .number(String(snapshot.boundAtWall))
        object["broadcast"] = .bool(snapshot.broadcast)
        if let mtu = record.originalMTU { object["originalMTU"] = .integer(mtu) }
        do {
            try host.writeState(
                stateFile(record.request.key), Array(JSONValue.object(object).serialized(indent: 2).utf8))
        } catch {
            log("cannot keep the lease of \(record.request.key) on disk: \(error)")
        }
    }

    /// Loads the leases kept on disk and resumes them (expired ones are dropped; one whose
    /// renewal time has passed renews at once).
    func resume() {
        for (name, bytes) in host.stateFiles(in: settings.stateDirectory) where name.hasSuffix(".json") {
            let path = settings.stateDirectory + "/" + name
            guard let value = try? JSONValue.parse(bytes),
                var object = value.objectValue,
                let leaseValue = object["lease"], let lease = try? LeaseCoding.lease(leaseValue),
                let boundAt = object["boundAt"]?.doubleValue, boundAt.isFinite, boundAt <= host.wallSeconds + 60,
                let macText = object["mac"]?.stringValue,
                let mac = MACAddress(macText)
            else {
                log("ignoring unreadable lease file \(path)")
                continue
            }
            object["command"] = "add"
            guard let request = try? DaemonRequest(json: .object(object)) else { continue }
            let age = host.wallSeconds - boundAt
            if age >= Double(lease.leaseSeconds) {
                log("expired: \(lease.address) of \(Self.describe(request)) ran out while the daemon was down")
                host.removeState(path)
                continue
            }
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
        var object = record.request.json.objectValue ?? JSONObject()
        object["command"] = nil
        object["lease6"] = LeaseCoding.json(snapshot.lease)
        object["boundAt"] = .number(String(snapshot.boundAtWall))
        do {
            try host.writeState(
                stateFile6(record.request.key), Array(JSONValue.object(object).serialized(indent: 2).utf8))
        } catch {
            log("cannot keep the DHCPv6 lease of \(record.request.key) on disk: \(error)")
        }
    }

    /// Loads the DHCPv6 leases kept on disk (expired ones are dropped) and confirms each.
    func resume6() {
        for (name, bytes) in host.stateFiles(in: settings.stateDirectory) where name.hasSuffix(".v6") {
            let path = settings.stateDirectory + "/" + name
            guard let value = try? JSONValue.parse(bytes),
                var object = value.objectValue, let leaseValue = object["lease6"],
                let (lease, _) = try? LeaseCoding.lease6(leaseValue),
                let boundAt = object["boundAt"]?.doubleValue, boundAt.isFinite, boundAt <= host.wallSeconds + 60
            else {
                log("ignoring unreadable lease file \(path)")
                continue
            }
            object["command"] = "add"
            guard let request = try? DaemonRequest(json: .object(object)) else { continue }
            let age = host.wallSeconds - boundAt
            if age >= Double(lease.validLifetime) {
                log("expired: \(lease.address) of \(Self.describe(request)) ran out while the daemon was down")
                host.removeState(path)
                continue
            }
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
                "server": .string(lease.serverID.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()),
                "state": .string(state), "expires": .string(timestamp(boundAtWall + Double(lease.validLifetime))),
            ]
            return (request.containerID + "/" + request.ifName + "/6", entry)
        }
    }
}
