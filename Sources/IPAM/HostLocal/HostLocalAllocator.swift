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
    /// is taken, 7 for a second allocation to the same container and interface (its own
    /// reservations or, as the reference, its container's legacy ones).
    public func allocate(containerID: String, ifName: String) throws -> [CNIResult.IPConfig] {
        let owner = ReservationOwner(containerID: containerID, ifName: ifName)
        return try store.session { session throws -> [CNIResult.IPConfig] in
            var requested = config.requestedAddresses
            let held = try session.addresses(of: owner) + session.addresses(of: owner.legacy)
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
                    let (address, range) = try take(from: set, index: index, requested: wanted, owner: owner, session)
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
                for address in reserved.reversed() { try? session.release(address, of: IndexKey(owner)) }
                throw error
            }
            return configs
        }
    }

    private func take(
        from set: RangeSet, index: Int, requested: IPAddress?, owner: ReservationOwner, _ session: StoreSession
    ) throws -> (IPAddress, AddressRange) {
        if let requested {
            guard let range = set.range(containing: requested) else {
                throw CNIError.invalidConfig("requested IP address \(requested) is not in range set \(set)")
            }
            if requested == range.gateway {
                throw CNIError.invalidConfig(
                    "failed to allocate for range \(index): requested ip \(requested) is subnet's gateway")
            }
            guard try session.reserve(requested, for: owner) else {
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
            if try session.reserve(candidate, for: owner) { return (candidate, range) }
        }
        throw CNIError(
            code: .addressesExhausted,
            msg:
                "failed to allocate for range \(index): no IP addresses available in range set \(set) of network \"\(config.networkName)\""
        )
    }

    /// Releases every address of the attachment (DEL): its own reservations or, as the
    /// reference, its container's legacy ones when it has none. Idempotent. Returns what was
    /// released.
    @discardableResult
    public func release(containerID: String, ifName: String) throws -> [IPAddress] {
        try store.session { session throws -> [IPAddress] in
            let (key, held) = try Self.owned(ReservationOwner(containerID: containerID, ifName: ifName), session)
            for address in held { try session.release(address, of: key) }
            return held
        }
    }

    /// The addresses the attachment holds (CHECK), chosen as DEL chooses them.
    public func addresses(containerID: String, ifName: String) throws -> [IPAddress] {
        try store.session { session in
            try Self.owned(ReservationOwner(containerID: containerID, ifName: ifName), session).addresses
        }
    }

    /// What an attachment holds for DEL and CHECK: its own reservations, or its container's
    /// legacy ones when it has none (the reference's rule).
    static func owned(_ owner: ReservationOwner, _ session: StoreSession) throws -> (
        key: IndexKey, addresses: [IPAddress]
    ) {
        let exact = try session.addresses(of: owner)
        if !exact.isEmpty { return (IndexKey(owner), exact) }
        return (IndexKey(owner.legacy), try session.addresses(of: owner.legacy))
    }

    /// GC: releases every reservation whose attachment is not in `valid` (legacy files are
    /// valid when their container is), and every address file with no owner (empty or
    /// unreadable: under the lock, no writer is filling it). `lock` and `last_reserved_ip.*`
    /// are never touched; an entry under an address's name that is not a regular file (a
    /// directory, a symlink) is skipped and named in a warning on stderr. With an exact index
    /// only the owners that go are read; each address is checked against its file first, and a
    /// mismatch sends GC to a read of every file. Returns what was released.
    @discardableResult
    public func collectGarbage(valid: Set<Attachment>) throws -> [IPAddress] {
        let validContainers = Set(valid.map(\.containerID))
        return try store.session { session throws -> [IPAddress] in
            // What goes: every owner GC does not keep, ownerless files and unparsable keys included.
            func doomed(_ entries: [IndexKey: [IPAddress]]) -> [(key: IndexKey, addresses: [IPAddress])] {
                entries.filter { key, _ in
                    guard case .owner(let owner) = key.named else { return true }
                    return !Self.keeps(owner, valid: valid, validContainers: validContainers)
                }.map { ($0.key, $0.value) }
            }
            let (entries, fromIndex) = try session.allOwners()
            var going = doomed(entries)
            // An address whose file does not name its key's owner (or a key no owner parses
            // from): the index did not match the files; decide from a read of every file.
            if fromIndex
                && !going.allSatisfy({ entry in entry.addresses.allSatisfy { session.verified($0, entry.key) } })
            {
                going = doomed(try session.readEverything())
            }
            var released: [IPAddress] = []
            for (key, addresses) in going {
                for address in addresses {
                    try session.release(address, of: key)
                    released.append(address)
                }
            }
            if !session.notFiles.isEmpty {
                FileIO.writeAll(
                    .standardError,
                    "host-local GC: skipped entries of \(store.directory) that are not reservation files: "
                        + session.notFiles.map(\.description).joined(separator: ", ") + "\n")
            }
            return released
        }
    }

    /// GC's keep rule: a reservation stays when its attachment is valid, a legacy one when its
    /// container is.
    static func keeps(_ owner: ReservationOwner, valid: Set<Attachment>, validContainers: Set<String>) -> Bool {
        guard let ifName = owner.ifName else { return validContainers.contains(owner.containerID) }
        return valid.contains(Attachment(containerID: owner.containerID, ifName: ifName))
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
