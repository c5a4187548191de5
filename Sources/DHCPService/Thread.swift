#if canImport(Glibc)
    import Glibc
#endif

/// Starting detached pthreads for blocking work.
enum Thread {
    final class Box: @unchecked Sendable {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts `body` on a new detached thread; false when the thread cannot be created
    /// (EAGAIN: the thread or memory limit), and then `body` never runs.
    @discardableResult
    static func start(_ body: @escaping () -> Void) -> Bool {
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        if pthread_create(
            &thread, &attributes,
            { argument in
                Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue().body()
                return nil
            }, box) != 0
        {
            Unmanaged<Box>.fromOpaque(box).release()
            pthread_attr_destroy(&attributes)
            return false
        }
        pthread_attr_destroy(&attributes)
        return true
    }
}
