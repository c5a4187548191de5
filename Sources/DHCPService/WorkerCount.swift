import POSIX

/// How many requests are being served, against a limit: a flood of clients gets "busy, try
/// again" answers instead of unbounded threads.
final class WorkerCount: @unchecked Sendable {
    private let monitor = Monitor()
    private var active = 0
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Takes a place; false when all `limit` are taken.
    func enter() -> Bool {
        monitor.locked {
            guard active < limit else { return false }
            active += 1
            return true
        }
    }

    func leave() { monitor.locked { active -= 1 } }
}
