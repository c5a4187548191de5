import CSystem
import Namespaces
import POSIX
import ProcessRunner

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `body` on `count` threads at once; the wall time and how many returned false.
enum Concurrently {
    final class Job: @unchecked Sendable {
        let work: () -> Void
        init(_ work: @escaping () -> Void) { self.work = work }
    }

    static func run(_ count: Int, _ body: @escaping @Sendable (Int) -> Bool) -> (nanoseconds: UInt64, failed: Int) {
        final class Counter: @unchecked Sendable {
            let monitor = Monitor()
            var failed = 0
        }
        let counter = Counter()
        let start = MonotonicClock.nanoseconds
        var threads: [pthread_t] = []
        for n in 0..<count {
            var thread = pthread_t()
            let job = Job {
                if !body(n) { counter.monitor.locked { counter.failed += 1 } }
            }
            if pthread_create(
                &thread, nil,
                { argument in
                    guard let argument else { return nil }
                    Unmanaged<Job>.fromOpaque(argument).takeRetainedValue().work()
                    return nil
                }, Unmanaged.passRetained(job).toOpaque()) == 0
            {
                threads.append(thread)
            }
        }
        for thread in threads { pthread_join(thread, nil) }
        return (MonotonicClock.nanoseconds - start, counter.monitor.locked { counter.failed })
    }
}
