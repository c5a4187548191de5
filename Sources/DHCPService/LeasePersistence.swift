import Addressing
import CNI
import DHCP
import JSON
import POSIX

/// The leases on disk: one `LeaseFile` per attachment and family under the state directory,
/// written atomically after every change and read back when the daemon starts.
extension LeaseManager {
    /// `<stateDirectory>/<FNV-1a of the key><the family's suffix>`.
    func stateFile(_ key: String, _ family: LeaseFamily) -> String {
        settings.stateDirectory + "/" + FNV1a.hex(FNV1a.hash(key.utf8)) + LeaseFile.suffix(of: family)
    }

    /// Every lease held, both families (under the lock).
    var heldLeases: [any HeldLease] { Array(records4.values) + Array(records6.values) }

    /// Writes the record's `LeaseFile` through the host (temporary file, fsync, rename); a
    /// failure is logged. Nothing is written for a record no longer held: a renewal that
    /// finishes after a DEL released the lease must not bring its file back.
    func persist<Record: HeldLease>(_ record: Record) {
        let request = record.request
        let family = Record.family
        // The file's bytes are made under the lock from the record's snapshot. (Swift 6.3.1's
        // optimizer crashed on a LeaseFile value carried out of the closure and read after it:
        // CopyPropagation, "Found outside of lifetime use".)
        let bytes = monitor.locked { () -> [UInt8]? in
            guard self[keyPath: Record.table][ExactKey(request.key)] === record, let lease = record.fileLease else {
                return nil
            }
            return LeaseFile(attachment: LeaseFile.Attachment(request), boundAt: record.boundAtWall, lease: lease).bytes
        }
        guard let bytes else { return }
        let path = stateFile(request.key, family)
        do {
            try host.writeState(path, bytes)
        } catch {
            log("cannot keep the lease of \(Self.describe(request)) on disk (\(path)): \(error)")
        }
    }

    /// Loads the leases kept on disk, both families, and resumes them: a DHCPv4 lease is
    /// confirmed with INIT-REBOOT at once, a DHCPv6 one with CONFIRM at the next turn of the
    /// renewal loop. An unreadable file is logged and left; one of a later daemon's version is
    /// left for it; an expired lease is logged and its file removed.
    func resume() {
        for (name, bytes) in host.stateFiles(in: settings.stateDirectory) {
            guard let family = LeaseFamily.allCases.first(where: { name.hasSuffix(LeaseFile.suffix(of: $0)) }) else {
                continue
            }
            let path = settings.stateDirectory + "/" + name
            let file: LeaseFile
            do {
                file = try LeaseFile(bytes: bytes, named: family)
            } catch {
                log("ignoring lease file \(path): \(error)")
                continue
            }
            let request = file.attachment.request
            guard file.boundAt <= host.wallSeconds + 60 else {
                log("ignoring lease file \(path): granted in the future (\(timestamp(file.boundAt)))")
                continue
            }
            let age = host.wallSeconds - file.boundAt
            let lease = file.lease.bound
            if age >= Double(lease.lifetime) {
                log("expired: \(lease.addressText) of \(Self.describe(request)) ran out while the daemon was down")
                host.removeState(path)
                continue
            }
            switch file.family {
            case .ipv4: resume(file, Lease4Record.self, age: age)
            case .ipv6: resume(file, Lease6Record.self, age: age)
            }
        }
        monitor.locked { monitor.signal() }
    }

    /// Holds the record of a kept lease, `age` seconds after it was granted.
    private func resume<Record: HeldLease>(_ file: LeaseFile, _: Record.Type, age: Double) {
        guard let record = Record.resuming(file, age: age, manager: self), let lease = record.client.lease else {
            return
        }
        let key = file.attachment.request.key
        monitor.locked { self[keyPath: Record.table][ExactKey(key)] = record }
        log(
            "resumed \(Record.family.leaseName) \(lease.addressText) of \(key), \(Int(Double(lease.lifetime) - age)) s left"
        )
    }

    /// What `dhcp leases` shows: one object per lease held (container, network, interface,
    /// family, address, server, state, expires), sorted by container, interface and family.
    func listing() -> [JSONValue] {
        let held = monitor.locked {
            heldLeases.compactMap { record in record.listed.map { (record, record.family, $0) } }
        }
        return held.map { record, family, listed -> (String, JSONValue) in
            let request = record.request
            let entry: JSONValue = [
                "container": .string(request.containerID), "network": .string(request.network),
                "interface": .string(request.ifName), "family": .string(family.rawValue),
                "address": .string(listed.address), "server": .string(listed.server),
                "state": .string(listed.phase.rawValue),
                "expires": .string(timestamp(record.boundAtWall + Double(listed.lifetime))),
            ]
            return (request.containerID + "/" + request.ifName + (family == .ipv4 ? "/4" : "/6"), entry)
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
