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
                Threads.start {
                    _ = try? FileLock.holding(path: path, orThrow: noFailure) { () throws(SystemError) in work(300) }
                })
            usleep(200_000)
            work(1)
        }
        // The file is gone now; a newcomer makes a new one and locks it at once.
        threads.append(
            Threads.start {
                _ = try? FileLock.holding(path: path, orThrow: noFailure) { () throws(SystemError) in work(300) }
            })
        #expect(threads.count == 2, "both threads started")
        for case let thread? in threads { pthread_join(thread, nil) }
        #expect(entries.load(ordering: .relaxed) == 3)
        #expect(overlaps.load(ordering: .relaxed) == 0, "two holders of one lock name at once")
        #expect(access(path, F_OK) == 0, "the newcomers' file stays (they do not remove it)")
    }
}
