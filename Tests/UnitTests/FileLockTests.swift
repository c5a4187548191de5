import POSIX
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A lock whose holder removes its file (the attachment lock after a DEL): a waiter blocked on
/// the removed file must not hold "the" lock while a newcomer holds the new file of that name.
@Suite struct FileLockTests {
    /// A thread of its own (not a pool's, which may hold a blocked body back and hide the race).
    static func thread(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let created = pthread_create(
            &thread, nil,
            { raw in
                guard let raw else { return nil }
                Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body()
                return nil
            }, box)
        return created == 0 ? thread : nil
    }

    @Test func aWaiterOnARemovedFileTakesTheNewOne() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/attachment.lock"
        let inside = Atomic<Int>(0)
        let overlaps = Atomic<Int>(0)
        let entries = Atomic<Int>(0)
        /// A holder's work: counts how many are inside at once.
        @Sendable func work(_ milliseconds: UInt32) {
            entries.add(1, ordering: .relaxed)
            if inside.add(1, ordering: .sequentiallyConsistent).newValue > 1 { overlaps.add(1, ordering: .relaxed) }
            usleep(milliseconds * 1000)
            inside.subtract(1, ordering: .sequentiallyConsistent)
        }
        var threads: [pthread_t?] = []
        let noFailure: @Sendable (SystemError) -> SystemError = { $0 }
        try FileLock.holding(path: path, removeAfterwards: true, orThrow: noFailure) { () throws(SystemError) in
            // The waiter opens the file and blocks in flock on it while we hold it.
            threads.append(
                Self.thread {
                    _ = try? FileLock.holding(path: path, orThrow: noFailure) { () throws(SystemError) in work(300) }
                })
            usleep(200_000)
            work(1)
        }
        // The file is gone now; a newcomer makes a new one and locks it at once.
        threads.append(
            Self.thread {
                _ = try? FileLock.holding(path: path, orThrow: noFailure) { () throws(SystemError) in work(300) }
            })
        #expect(threads.count == 2, "both threads started")
        for case let thread? in threads { pthread_join(thread, nil) }
        #expect(entries.load(ordering: .relaxed) == 3)
        #expect(overlaps.load(ordering: .relaxed) == 0, "two holders of one lock name at once")
        #expect(access(path, F_OK) == 0, "the newcomers' file stays (they do not remove it)")
    }
}
