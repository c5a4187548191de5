import CNI

/// Undo steps of a half-done ADD, run newest first when a later step fails. A step that
/// fails itself does not stop the others; its error is collected and reported in the details
/// of the ADD's error (the original error stays what the caller sees first).
struct Rollback {
    private var steps: [(what: String, undo: () throws -> Void)] = []

    /// Registers the undo of a step just done; `what` names it in a report ("delete link mv1").
    mutating func add(_ what: String, _ undo: @escaping () throws -> Void) { steps.append((what, undo)) }

    /// Runs every step in reverse order and forgets them; returns what failed, in words.
    mutating func run() -> [String] {
        var failures: [String] = []
        for step in steps.reversed() {
            do {
                try step.undo()
            } catch {
                failures.append("\(step.what): \(error)")
            }
        }
        steps.removeAll()
        return failures
    }

    /// The ADD succeeded: nothing to undo.
    mutating func disarm() { steps.removeAll() }
}

extension Rollback {
    /// Runs an ADD's steps with a fresh rollback: if a step throws, every undo step registered
    /// so far runs, newest first, and the error goes on, with the undo steps that failed named
    /// in its details; if all succeed, nothing is undone.
    static func guarding<T>(_ steps: (inout Rollback) throws -> T) throws -> T {
        var rollback = Rollback()
        do {
            let value = try steps(&rollback)
            rollback.disarm()
            return value
        } catch {
            let failures = rollback.run()
            guard !failures.isEmpty else { throw error }
            var reported = PluginRunner.classify(error)
            let undone = "undoing the ADD also failed: " + failures.joined(separator: "; ")
            reported.details = [reported.details, undone].compactMap { $0 }.filter { !$0.isEmpty }.joined(
                separator: "; ")
            throw reported
        }
    }
}

extension CNIResult {
    /// Fails now, while the ADD can still be undone, when the config's version cannot express
    /// this result (no address below 0.3.0), rather than later in the printing.
    func ensurePrintable(for request: CNIRequest) throws {
        _ = try json(as: request.config.effectiveVersion)
    }
}
