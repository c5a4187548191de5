import CNI

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

extension Rollback {
    /// Runs an ADD's steps with a fresh rollback: if a step throws, every undo step registered
    /// so far runs, newest first, and the error goes on; if all succeed, nothing is undone.
    static func guarding<T>(_ steps: (inout Rollback) throws -> T) throws -> T {
        var rollback = Rollback()
        do {
            let value = try steps(&rollback)
            rollback.disarm()
            return value
        } catch {
            rollback.run()
            throw error
        }
    }
}

extension CNIResult {
    /// Fails now, while the ADD can still be undone, when the config's version cannot express
    /// this result (no address below 0.3.0), rather than later in the printing.
    func ensurePrintable(for request: CNIRequest) throws {
        _ = try json(as: request.config.cniVersion.isEmpty ? "0.1.0" : request.config.cniVersion)
    }
}
