#if canImport(Glibc)
    import Glibc
#endif

/// A mutex with a condition variable (pthreads; the plugins link no Foundation). Both live in
/// memory allocated once for the object's lifetime, so their addresses never move: Swift gives
/// no such guarantee for `&storedProperty` passed to C, which is why they are not stored
/// properties.
public final class Monitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` holding the mutex.
    public func locked<T, Failure: Error>(_ body: () throws(Failure) -> T) throws(Failure) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits, the mutex held by the caller (inside `locked`), until signalled or until
    /// `deadline` in monotonic seconds (see `MonotonicClock.seconds`); nil waits for a signal.
    public func wait(until deadline: Double?) {
        guard let deadline else {
            pthread_cond_wait(condition, mutex)
            return
        }
        // Clamped so that no deadline, however far or NaN, makes the conversion trap.
        let clamped = deadline.isFinite ? min(max(deadline, 0), 1e12) : 1e12
        let whole = clamped.rounded(.down)
        var time = timespec(tv_sec: Int(whole), tv_nsec: Int((clamped - whole) * 1e9))
        pthread_cond_timedwait(condition, mutex, &time)
    }

    /// Wakes every waiter.
    public func signal() { pthread_cond_broadcast(condition) }
}
