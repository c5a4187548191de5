import Addressing
import CNI
import POSIX

/// Hands out and takes back host-local addresses, with the reference's rules: round robin
/// from the address after `last_reserved_ip.<n>`, the gateway never handed out, one address
/// per range set, a requested address taken only from its own range set.
public struct HostLocalAllocator {
    public let config: HostLocalConfig
    public let store: ReservationStore

    public init(config: HostLocalConfig) throws(StoreError) {
        self.config = config
        self.store = try ReservationStore(dataDirectory: config.dataDirectory, network: config.networkName)
    }

    /// Reserves one address from each range set for the attachment, all under one lock. A
    /// failure releases what this call reserved. Errors: code 7 for a requested address in no
    /// range set or equal to a gateway, 102 when a range set is exhausted or a requested address
    /// is taken, 7 for a second allocation to the same container and interface (found through
    /// the index when it is complete, else by reading every file; see `IndexCompleteness`).
    public func allocate(containerID: String, ifName: String) throws -> [CNIResult.IPConfig] {
        let owner = ReservationOwner(containerID: containerID, ifName: ifName)
        return try store.withLock { () throws -> [CNIResult.IPConfig] in
            var requested = config.requestedAddresses
            let (held, complete) = try heldAddresses(containerID: containerID, ifName: ifName, exactOnly: false)
            var reserved: [IPAddress] = []
            var configs: [CNIResult.IPConfig] = []
            do {
                for (index, set) in config.rangeSets.enumerated() {
                    if let existing = held.first(where: { set.range(containing: $0) != nil }) {
                        throw CNIError.invalidConfig(
                            "failed to allocate for range \(index): \(existing) has been allocated to \(containerID), duplicate allocation is not allowed"
                        )
                    }
                    let wanted = requested.firstIndex { set.range(containing: $0) != nil }.map {
                        requested.remove(at: $0)
                    }
                    let (address, range) = try take(from: set, index: index, requested: wanted, owner: owner)
                    reserved.append(address)
                    try store.setLastReserved(address, rangeSetIndex: index)
                    configs.append(
                        CNIResult.IPConfig(
                            address: IPPrefix(address: address, prefixLength: range.subnet.prefixLength)
                                ?? range.subnet,
                            gateway: range.gateway))
                }
                if !requested.isEmpty {
                    throw CNIError.invalidConfig(
                        "failed to allocate all requested IPs: "
                            + requested.map(\.description).joined(separator: " "))
                }
            } catch {
                for address in reserved { try? store.remove(address) }
                throw error
            }
            // Sealed only when the index lists this attachment too.
            if store.index(reserved, containerID: containerID, ifName: ifName) && complete { store.sealIndex() }
            return configs
        }
    }

    private func take(from set: RangeSet, index: Int, requested: IPAddress?, owner: ReservationOwner) throws -> (
        IPAddress, AddressRange
    ) {
        if let requested {
            guard let range = set.range(containing: requested) else {
                throw CNIError.invalidConfig("requested IP address \(requested) is not in range set \(set)")
            }
            if requested == range.gateway {
                throw CNIError.invalidConfig(
                    "failed to allocate for range \(index): requested ip \(requested) is subnet's gateway")
            }
            guard try store.reserve(requested, for: owner) else {
                throw CNIError(
                    code: .addressesExhausted,
                    msg:
                        "failed to allocate for range \(index): requested IP address \(requested) is not available in range set \(set)"
                )
            }
            return (requested, range)
        }
        var cursor = RangeCursor(set: set, lastReserved: store.lastReserved(rangeSetIndex: index))
        while let (candidate, range) = cursor.next() {
            if try store.reserve(candidate, for: owner) { return (candidate, range) }
        }
        throw CNIError(
            code: .addressesExhausted,
            msg:
                "failed to allocate for range \(index): no IP addresses available in range set \(set) of network \"\(config.networkName)\""
        )
    }

    /// Releases every address of the attachment (DEL). The index names them when this
    /// suite made the reservation; otherwise (or when the index is stale) every file is read,
    /// so reservations made by the reference are released too. Idempotent. Returns what was
    /// released.
    @discardableResult
    public func release(containerID: String, ifName: String) throws -> [IPAddress] {
        try store.withLock { () throws -> [IPAddress] in
            let (released, complete) = try findOwned(containerID: containerID, ifName: ifName)
            for address in released { try store.remove(address) }
            store.removeIndex(containerID: containerID, ifName: ifName)
            if complete { store.sealIndex() }
            return released
        }
    }

    /// The addresses the attachment holds (CHECK), by the index when it is right, else by
    /// reading every file.
    public func addresses(containerID: String, ifName: String) throws -> [IPAddress] {
        try store.withLock { try findOwned(containerID: containerID, ifName: ifName).addresses }
    }

    /// What the attachment holds for DEL and CHECK: its own reservations, or, as the
    /// reference, its container's legacy ones when it has none. `complete`: the index is
    /// complete afterwards (it was, or was reconciled here).
    private func findOwned(containerID: String, ifName: String) throws -> (addresses: [IPAddress], complete: Bool) {
        let found = try heldAddresses(containerID: containerID, ifName: ifName, exactOnly: true)
        if !found.addresses.isEmpty || found.complete { return found }
        // The index can be stale for an attachment it lists (written by another implementation
        // since): a listed address that is not the attachment's sends this here too.
        let (all, complete) = try readEverything()
        let exact = all.filter { $0.owner == ReservationOwner(containerID: containerID, ifName: ifName) }
        let chosen =
            exact.isEmpty ? all.filter { $0.owner == ReservationOwner(containerID: containerID, ifName: nil) } : exact
        return (chosen.map(\.address), complete)
    }

    /// The attachment's reservations: through the index (its entry and its container's legacy
    /// entry, each address checked against its file) when the index is complete or, for DEL and
    /// CHECK (`exactOnly`), when the entry lists only addresses that are still the
    /// attachment's; otherwise by reading every file and reconciling the index with them.
    /// With `exactOnly`, legacy reservations count only when there is no exact one.
    private func heldAddresses(containerID: String, ifName: String, exactOnly: Bool) throws -> (
        addresses: [IPAddress], complete: Bool
    ) {
        let exactOwner = ReservationOwner(containerID: containerID, ifName: ifName)
        let legacyOwner = ReservationOwner(containerID: containerID, ifName: nil)
        func verified(_ owner: ReservationOwner) -> (addresses: [IPAddress], allListedHeld: Bool)? {
            guard let listed = store.indexedAddresses(containerID: containerID, ifName: owner.ifName ?? ""),
                !listed.isEmpty
            else { return nil }
            let held = listed.filter { store.owner(of: $0) == owner }
            return (held, held.count == listed.count)
        }
        if store.indexIsComplete {
            let exact = verified(exactOwner)?.addresses ?? []
            if exactOnly && !exact.isEmpty { return (exact, true) }
            return (exact + (verified(legacyOwner)?.addresses ?? []), true)
        }
        if exactOnly {
            if let exact = verified(exactOwner), exact.allListedHeld { return (exact.addresses, false) }
            return ([], false)
        }
        let (all, complete) = try readEverything()
        return (
            all.filter { $0.owner?.matches(containerID: containerID, ifName: ifName) == true }.map(\.address), complete
        )
    }

    /// Every reservation, read file by file as the reference does, and the index reconciled
    /// with them; `complete`: the index may be sealed afterwards.
    private func readEverything() throws -> (reservations: [Reservation], complete: Bool) {
        let all = try store.reservations()
        return (all, store.reconcileIndex(with: all))
    }

    /// GC: releases every reservation whose attachment is not in `valid` (legacy files are
    /// valid when their container is), and every address file with no owner (empty or
    /// unreadable: under the lock, no writer is filling it). `lock` and `last_reserved_ip.*`
    /// are never touched; an entry under an address's name that is not a regular file (a
    /// directory, a symlink) is skipped and named in a warning on stderr. Returns what was
    /// released.
    @discardableResult
    public func collectGarbage(valid: Set<Attachment>) throws -> [IPAddress] {
        let validContainers = Set(valid.map(\.containerID))
        return try store.withLock { () throws -> [IPAddress] in
            if store.indexIsComplete,
                let released = collectGarbageByIndex(valid: valid, validContainers: validContainers)
            {
                store.sealIndex()
                return released
            }
            var released: [IPAddress] = []
            var skipped: [String] = []
            var kept: [Reservation] = []
            for reservation in try store.reservations() {
                guard reservation.isFile else {
                    skipped.append(reservation.address.description)
                    continue
                }
                if Self.keeps(reservation.owner, valid: valid, validContainers: validContainers) {
                    kept.append(reservation)
                } else {
                    try store.remove(reservation.address)
                    released.append(reservation.address)
                }
            }
            let complete = store.reconcileIndex(with: kept)
            store.pruneIndex(
                keeping: Set(valid.map { "\($0.containerID):\($0.ifName)" } + validContainers.map { "\($0):" }))
            if complete { store.sealIndex() }
            if !skipped.isEmpty {
                FileIO.writeAll(
                    2,
                    "host-local GC: skipped entries of \(store.directory) that are not reservation files: "
                        + skipped.joined(separator: ", ") + "\n")
            }
            return released
        }
    }
}

extension HostLocalAllocator {
    /// GC's keep rule: a reservation stays when its attachment is valid, a legacy one when its
    /// container is; one with no owner goes.
    static func keeps(_ owner: ReservationOwner?, valid: Set<Attachment>, validContainers: Set<String>) -> Bool {
        guard let owner else { return false }
        guard let ifName = owner.ifName else { return validContainers.contains(owner.containerID) }
        return valid.contains(Attachment(containerID: owner.containerID, ifName: ifName))
    }

    /// GC through a complete index: the entries name every owner in the store, so only the
    /// entries of attachments that are not valid (and the ownerless files) are read and their
    /// files removed, each checked against its file first; the valid ones are not read. nil
    /// when the index cannot be listed (then every file is read).
    func collectGarbageByIndex(valid: Set<Attachment>, validContainers: Set<String>) -> [IPAddress]? {
        guard let entries = store.attachmentIndex.all() else { return nil }
        var released: [IPAddress] = []
        var changes: [String: [IPAddress]] = [:]
        for (name, listed) in entries {
            // An entry name with one colon is `<containerID>:<ifname>` or, legacy, `<containerID>:`.
            let parts = name.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count == 2 {
                let owner = ReservationOwner(
                    containerID: String(parts[0]), ifName: parts[1].isEmpty ? nil : String(parts[1]))
                if Self.keeps(owner, valid: valid, validContainers: validContainers) { continue }
            }
            var remaining: [IPAddress] = []
            for address in listed {
                // Gone, not a file, or another owner's now (its own entry lists it): not this entry's.
                guard case .file(let owner) = store.entry(at: address),
                    (owner.map { ReservationStore.indexEntry(containerID: $0.containerID, ifName: $0.ifName ?? "") }
                        ?? ReservationStore.ownerlessEntry) == name
                else { continue }
                if Self.keeps(owner, valid: valid, validContainers: validContainers) {
                    remaining.append(address)
                } else if (try? store.remove(address)) != nil {
                    released.append(address)
                } else {
                    return nil
                }
            }
            changes[name] = remaining
        }
        guard store.attachmentIndex.update(changes) else { return nil }
        return released
    }
}

/// Walks a range set the reference's way: from the address after `lastReserved` (when it is
/// in the set) or from the first range's start, through each range's start...end, wrapping
/// to the next range and round to the beginning, skipping gateways, until back where it began.
struct RangeCursor {
    let set: RangeSet
    private var rangeIndex = 0
    private var current: IPAddress?
    private var start: IPAddress?

    init(set: RangeSet, lastReserved: IPAddress?) {
        self.set = set
        if let lastReserved, let index = set.ranges.firstIndex(where: { $0.contains(lastReserved) }) {
            rangeIndex = index
            current = lastReserved
        }
    }

    mutating func next() -> (IPAddress, AddressRange)? {
        while true {
            var range = set.ranges[rangeIndex]
            if let position = current {
                if position == range.rangeEnd {
                    rangeIndex = (rangeIndex + 1) % set.ranges.count
                    range = set.ranges[rangeIndex]
                    current = range.rangeStart
                } else {
                    current = position.advanced(by: 1)
                }
                guard let position = current else { return nil }
                if let start {
                    if position == start { return nil }
                } else {
                    start = position
                }
            } else {
                current = range.rangeStart
                start = range.rangeStart
            }
            guard let candidate = current else { return nil }
            if candidate == range.gateway { continue }
            return (candidate, range)
        }
    }
}
