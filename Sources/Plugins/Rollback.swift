/// Undo steps of a half-done ADD, run newest first when a later step fails. Each step's own
/// failure is swallowed: the original error is what the caller reports.
struct Rollback {
    private var steps: [() -> Void] = []

    mutating func add(_ step: @escaping () -> Void) { steps.append(step) }

    /// Runs every step in reverse order and forgets them.
    mutating func run() {
        for step in steps.reversed() { step() }
        steps.removeAll()
    }

    /// The ADD succeeded: nothing to undo.
    mutating func disarm() { steps.removeAll() }
}
