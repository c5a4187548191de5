import Addressing
import CNI
import POSIX

/// host-local's store while its lock is held: the one place that changes reservation files and
/// keeps the attachment index true to them, so ADD's duplicate check, DEL, CHECK and GC need
/// only the entries of the owners they concern, whatever the size of the store.
///
/// **The invariant.** While the index is sealed (`IndexSeal`), for every owner O — an
/// attachment, a legacy owner naming only its container, or `.ownerless` for empty and
/// unreadable files — the index lists under O's key exactly the addresses whose files name O,
/// and nothing else.
///
/// **How it is kept.**
/// - A session starts *exact* when the seal holds, else not.
/// - A lookup on an exact index reads the owner's key and checks every listed address against
///   its file; when the index is not exact, cannot be read, or a check fails, the session reads
///   every file, as the reference does, and *rebuilds* the index from that read (every bucket
///   compared with what the read says, rewritten where it differs): after that the index
///   equals the files, whatever it held before, and later lookups of the session are answered
///   from the read.
/// - Every change of a reservation file made here is mirrored in the owner's key (`pending`),
///   written once by `finish`.
/// - `finish` seals only when the session was exact (from the start, or after a rebuild), every
///   file change and index write succeeded, and the caller's work succeeded. Anything else — a
///   thrown error, a failed write (ENOSPC), a process killed half-way — leaves the seal broken
///   (a file change moves the network directory's mtime, a bucket write the index's), and the
///   next session rebuilds.
///
/// Only a change that keeps the directory's mtime (a reservation file rewritten in place, which
/// no writer of the store does) can escape the seal.
final class StoreSession {
    let files: ReservationStore
    private let index: AttachmentIndex
    /// The index equals the files, but for this session's `pending` changes.
    private var exact: Bool
    /// Every reservation file's addresses by owner, once the session has read them all.
    private var everything: [IndexKey: [IPAddress]]?
    /// The keys this session changed, with their new addresses, not yet written.
    private var pending: [IndexKey: [IPAddress]] = [:]
    /// Keys looked up through the index and checked against their files in this session.
    private var checked: [IndexKey: [IPAddress]] = [:]
    /// Names of addresses that are not regular files (seen by a full read): taken, not ours.
    private(set) var notFiles: [IPAddress] = []
    /// A file change failed half-way: what the store holds is not known.
    private var damaged = false

    init(files: ReservationStore) {
        self.files = files
        index = files.attachmentIndex
        exact = files.indexIsComplete
    }

    // MARK: Lookups

    /// The addresses whose files name exactly `owner` (an attachment, or a legacy owner).
    func addresses(of owner: ReservationOwner) throws(StoreError) -> [IPAddress] {
        let key = IndexKey(owner)
        if let known = known(key) { return known }
        if exact, let listed = index.addresses(of: key), listed.allSatisfy({ holds($0, owner) }) {
            checked[key] = listed
            return listed
        }
        return try readEverything()[key] ?? []
    }

    /// Every owner's addresses: the whole index when it is exact (each owner's addresses to be
    /// checked against their files by the caller, see `verified`), else a read of every file.
    func allOwners() throws(StoreError) -> (entries: [IndexKey: [IPAddress]], fromIndex: Bool) {
        if let everything { return (everything, false) }
        if exact && pending.isEmpty, let entries = index.all() {
            checked = entries
            return (entries, true)
        }
        return (try readEverything(), false)
    }

    /// What this session already knows a key to hold: from its read of every file, its own
    /// changes, or an index entry it checked. nil when it has to look.
    private func known(_ key: IndexKey) -> [IPAddress]? {
        if let everything { return everything[key] ?? [] }
        return pending[key] ?? checked[key]
    }

    /// `address`'s name is a reservation file naming `owner` (nil: a file with no owner).
    private func holds(_ address: IPAddress, _ owner: ReservationOwner?) -> Bool {
        files.entry(at: address) == .file(owner: owner)
    }

    /// `address`'s file names the owner of `key` (for entries taken from the index; a key no
    /// owner parses from never matches).
    func verified(_ address: IPAddress, _ key: IndexKey) -> Bool {
        switch key.named {
        case .ownerless: holds(address, nil)
        case .owner(let owner): holds(address, owner)
        case .unparsable: false
        }
    }

    /// Reads every reservation file and rebuilds the index from the read; the session is exact
    /// afterwards when the rebuild was written whole.
    @discardableResult
    func readEverything() throws(StoreError) -> [IndexKey: [IPAddress]] {
        var read: [IndexKey: [IPAddress]] = [:]
        notFiles = []
        for reservation in try files.reservations() {
            // A directory, symlink or other non-file under an address's name is taken but has
            // no owner and is not ours: it is in no key (GC skips it).
            guard reservation.isFile else {
                notFiles.append(reservation.address)
                continue
            }
            read[IndexKey(reservation.owner), default: []].append(reservation.address)
        }
        everything = read
        pending = [:]
        checked = [:]
        exact = index.rebuild(read)
        return read
    }

    // MARK: Changes

    /// Creates the address file for `owner` (see `ReservationStore.reserve`); false when the
    /// address is taken.
    func reserve(_ address: IPAddress, for owner: ReservationOwner) throws(StoreError) -> Bool {
        let held = try addresses(of: owner)
        do throws(StoreError) {
            guard try files.reserve(address, for: owner) else { return false }
        } catch {
            damaged = true
            throw error
        }
        record(held + [address], for: IndexKey(owner))
        return true
    }

    /// Removes the address file of `address`, held by the owner of `key` (looked up in this
    /// session).
    func release(_ address: IPAddress, of key: IndexKey) throws(StoreError) {
        let held = known(key) ?? []
        do throws(StoreError) {
            try files.remove(address)
        } catch {
            damaged = true
            throw error
        }
        record(held.filter { $0 != address }, for: key)
    }

    private func record(_ addresses: [IPAddress], for key: IndexKey) {
        if everything != nil {
            everything?[key] = addresses.isEmpty ? nil : addresses
        }
        pending[key] = addresses
    }

    /// Writes the pending keys, and seals when `succeeded` and the index is exact (see above).
    func finish(succeeded: Bool) {
        let written = index.update(pending)
        pending = [:]
        if succeeded && exact && written && !damaged { files.sealIndex() }
    }
}

extension ReservationStore {
    /// Runs `body` holding the store's lock with a session over the store and its index; the
    /// session is finished (its index changes written, sealed when exact) whether `body`
    /// succeeds or throws.
    func session<T>(_ body: (StoreSession) throws -> T) throws -> T {
        try withLock {
            let session = StoreSession(files: self)
            do {
                let result = try body(session)
                session.finish(succeeded: true)
                return result
            } catch {
                session.finish(succeeded: false)
                throw error
            }
        }
    }
}
