import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// host-local against a model of what its store must hold: thousands of random steps on a
/// small subnet (5 addresses for 8 attachments), mixing our ADD, DEL, CHECK and GC with the
/// reference's ADD and DEL on the same store (a node switching over), our ADDs and DELs killed
/// at points inside their locked work (strace's syscall injection: before the reservation's
/// link, after it, before the index write, before the seal), our ADDs whose index writes fail
/// with ENOSPC, and requested addresses (`CNI_ARGS IP=`) that bring an address back to the
/// attachment that held it before. After every step the store must hold exactly what the model
/// says: each held attachment owns its address, a released one owns nothing, a refused ADD
/// changed nothing; CHECK and GC must agree with the model.
///
/// A fixed seed runs in CI; a second run takes a new seed each time and prints it, so a
/// failure can be replayed (`SWIFT_CNI_MODEL_SEED=<seed> swift test --filter HostLocalModel`).
@Suite(.serialized) struct HostLocalModelTests {
    static let reference = "/usr/lib/cni"
    static let addresses = (2...6).map { "10.77.0.\($0)" }
    static let attachments = ["c0", "c1", "c2", "c3"].flatMap { id in ["eth0", "net1"].map { Attachment(id, $0) } }

    struct Attachment: Hashable, CustomStringConvertible {
        let containerID: String
        let ifName: String
        init(_ containerID: String, _ ifName: String) {
            self.containerID = containerID
            self.ifName = ifName
        }
        var owner: String { containerID + "\r\n" + ifName }
        var description: String { containerID + "/" + ifName }
    }

    /// Where a killed or failing step is stopped: strace's `-e inject` on the store's calls.
    static let killPoints = [
        ("linkat", 1),  // before the reservation exists
        ("write", 2),  // after the reservation, writing last_reserved_ip
        ("renameat", 1),  // before the index bucket replaces the old one
        ("utimensat", 1),  // index written, before the seal
        ("utimensat", 2),  // half-sealed
        ("unlinkat", 1),  // DEL: before the address file goes (ADD: before the bucket's temp file)
        ("flock", 2),  // everything done, before the lock is let go and the result printed
    ]

    final class Run {
        let store: TemporaryDirectory
        let config: String
        var rng: SeededGenerator
        let seed: UInt64
        /// What each attachment holds: one address, or more when the reference took a requested
        /// one for an attachment that held one already (it checks duplicates only without IP=).
        var held: [Attachment: Set<String>] = [:]
        /// The address each attachment held last, for requests that bring it back.
        var previous: [Attachment: String] = [:]
        var log: [String] = []
        var counts: [String: Int] = [:]

        init(seed: UInt64) throws {
            self.seed = seed
            rng = SeededGenerator(seed: seed)
            store = try TemporaryDirectory()
            config =
                #"{"cniVersion":"1.0.0","name":"model","type":"host-local","ipam":{"type":"host-local","dataDir":"\#(store.path)","ranges":[[{"subnet":"10.77.0.0/29"}]]}}"#
        }

        func exec(
            _ directory: String, _ command: String, _ attachment: Attachment, args: String = "",
            config override: String? = nil, inject: String? = nil
        ) throws -> PluginOutcome {
            let env = [
                "CNI_COMMAND=\(command)", "CNI_CONTAINERID=\(attachment.containerID)", "CNI_NETNS=/run/netns/none",
                "CNI_IFNAME=\(attachment.ifName)", "CNI_PATH=\(directory)", "CNI_ARGS=\(args)",
            ]
            let plugin = directory + "/host-local"
            let outcome: ChildProcess.Outcome
            if let inject {
                let call = inject.split(separator: ":")[0]
                outcome = try ChildProcess.run(
                    "/usr/bin/strace",
                    arguments: ["-qq", "-o", "/dev/null", "-e", "trace=\(call)", "-e", "inject=\(inject)", plugin],
                    environment: env, input: Array((override ?? config).utf8))
            } else {
                outcome = try ChildProcess.run(plugin, environment: env, input: Array((override ?? config).utf8))
            }
            return PluginOutcome(
                status: outcome.status, output: String(decoding: outcome.standardOutput, as: UTF8.self))
        }

        /// The store as files: address → owner (trimmed, as the reference compares it).
        func storeContents() -> [String: String] {
            var contents: [String: String] = [:]
            for name in store.files("model") where name.hasPrefix("10.77.") {
                contents[name] = (store.read("model/" + name) ?? "?").trimmingWhitespace
            }
            return contents
        }

        var expectedContents: [String: String] {
            Dictionary(uniqueKeysWithValues: held.flatMap { entry in entry.value.map { ($0, entry.key.owner) } })
        }

        func free() -> [String] {
            let taken = held.values.reduce(into: Set<String>()) { $0.formUnion($1) }
            return HostLocalModelTests.addresses.filter { !taken.contains($0) }
        }

        static func address(_ outcome: PluginOutcome) -> String? {
            outcome.json?["ips"]?.arrayValue?.first?["address"]?.stringValue.map {
                String($0.prefix { $0 != "/" })
            }
        }

        /// One ADD, ours or the reference's, checked against the model.
        func add(_ directory: String, _ attachment: Attachment, who: String) throws -> String? {
            var args = ""
            var requested: String?
            if rng.chance(30) {
                requested = previous[attachment].flatMap { rng.chance(60) ? $0 : nil } ?? rng.pick(Self.allAddresses)
                args = "IP=\(requested!)"
            }
            let outcome = try exec(directory, "ADD", attachment, args: args)
            let step = "\(who) ADD \(attachment)\(requested.map { " IP=\($0)" } ?? "")"
            let got = Self.address(outcome)
            let available = free()
            // The reference checks for a duplicate only when no address is requested.
            let referenceTakesIt = who == "reference" && requested.map(available.contains) == true
            if held[attachment] != nil && !referenceTakesIt {
                guard outcome.status != 0 else { return "\(step): a duplicate ADD succeeded (\(outcome.output))" }
                if who == "ours" && outcome.errorCode != 7 {
                    return "\(step): duplicate refused with \(outcome.output)"
                }
                return nil
            }
            if let requested {
                guard available.contains(requested) else {
                    return outcome.status == 0 ? "\(step): took the taken \(requested): \(outcome.output)" : nil
                }
                guard outcome.status == 0, got == requested else { return "\(step): failed: \(outcome.output)" }
            } else {
                guard !available.isEmpty else {
                    return outcome.status == 0 ? "\(step): succeeded on a full range: \(outcome.output)" : nil
                }
                guard outcome.status == 0, let got, available.contains(got) else {
                    return "\(step): \(outcome.output) (free: \(available))"
                }
            }
            if let got { held[attachment, default: []].insert(got) }
            previous[attachment] = got
            return nil
        }

        static let allAddresses = HostLocalModelTests.addresses

        /// An ADD or DEL of ours killed inside its locked work, or failing to write the index:
        /// afterwards the model takes what the store shows for that attachment (nothing, or
        /// one address that was free), as a runtime that retries would find it.
        func interrupted(_ command: String, _ attachment: Attachment, inject: String) throws -> String? {
            let outcome = try exec(Testbed.binDirectory, command, attachment, inject: inject)
            let owned = Set(storeContents().filter { $0.value == attachment.owner }.map(\.key))
            let step = "ours \(command) \(attachment) with \(inject) (exit \(outcome.status))"
            if command == "DEL" {
                guard owned.isSubset(of: held[attachment] ?? []) else { return "\(step): owns \(owned)" }
                held[attachment] = owned.isEmpty ? nil : owned
                return nil
            }
            if let before = held[attachment] {
                return owned == before ? nil : "\(step): the held \(before) became \(owned)"
            }
            guard owned.count <= 1, owned.allSatisfy(free().contains) else { return "\(step): owns \(owned)" }
            if let got = owned.first {
                held[attachment] = [got]
                previous[attachment] = got
            }
            if outcome.status == 0, Self.address(outcome) != owned.first {
                return "\(step): reported \(outcome.output) but the store holds \(owned)"
            }
            return nil
        }

        /// One random step; a description of what went wrong, or nil.
        func step() throws -> String? {
            let attachment = rng.pick(HostLocalModelTests.attachments)
            let roll = rng.below(100)
            let ours = Testbed.binDirectory
            switch roll {
            case 0..<22:
                counts["our ADD", default: 0] += 1
                return try add(ours, attachment, who: "ours")
            case 22..<36:
                counts["reference ADD", default: 0] += 1
                return try add(HostLocalModelTests.reference, attachment, who: "reference")
            case 36..<54, 54..<62:
                let isOurs = roll < 54
                counts[isOurs ? "our DEL" : "reference DEL", default: 0] += 1
                let outcome = try exec(isOurs ? ours : HostLocalModelTests.reference, "DEL", attachment)
                guard outcome.status == 0 else {
                    return "\(isOurs ? "ours" : "reference") DEL \(attachment): \(outcome.output)"
                }
                held[attachment] = nil
                return nil
            case 62..<72:
                counts["our CHECK", default: 0] += 1
                let outcome = try exec(ours, "CHECK", attachment)
                if held[attachment] != nil {
                    return outcome.status == 0
                        ? nil : "CHECK \(attachment) holding \(held[attachment]!.sorted()): \(outcome.output)"
                }
                return outcome.errorCode == 103 ? nil : "CHECK \(attachment) holding nothing: \(outcome.output)"
            case 72..<77:
                counts["our GC", default: 0] += 1
                let valid = HostLocalModelTests.attachments.filter { _ in rng.chance(60) }
                let list = valid.map { #"{"containerID":"\#($0.containerID)","ifname":"\#($0.ifName)"}"# }
                let gcConfig =
                    #"{"cniVersion":"1.1.0","name":"model","type":"host-local","cni.dev/valid-attachments":[\#(list.joined(separator: ","))],"ipam":{"type":"host-local","dataDir":"\#(store.path)","ranges":[[{"subnet":"10.77.0.0/29"}]]}}"#
                let outcome = try exec(ours, "GC", attachment, config: gcConfig)
                guard outcome.status == 0 else { return "GC: \(outcome.output)" }
                for held in held.keys where !valid.contains(held) { self.held[held] = nil }
                return nil
            case 77..<94:
                counts["killed ADD/DEL", default: 0] += 1
                let (call, when) = rng.pick(HostLocalModelTests.killPoints)
                return try interrupted(
                    rng.chance(70) ? "ADD" : "DEL", attachment, inject: "\(call):signal=KILL:when=\(when)")
            default:
                counts["ADD with ENOSPC on the index", default: 0] += 1
                let inject = rng.chance(50) ? "renameat:error=ENOSPC" : "utimensat:error=ENOSPC"
                return try interrupted("ADD", attachment, inject: inject)
            }
        }

        func run(steps: Int) throws -> [String] {
            var problems: [String] = []
            for number in 1...steps {
                let problem = try step()
                let actual = storeContents()
                if let problem { problems.append("step \(number): \(problem)") }
                if actual != expectedContents {
                    problems.append("step \(number): the store holds \(actual), the model \(expectedContents)")
                }
                if !problems.isEmpty { break }
            }
            return problems
        }
    }

    func run(seed: UInt64, steps: Int) throws {
        try #require(access(Self.reference + "/host-local", X_OK) == 0, "apt-get install containernetworking-plugins")
        try #require(access("/usr/bin/strace", X_OK) == 0, "apt-get install strace")
        let run = try Run(seed: seed)
        defer { run.store.remove() }
        let problems = try run.run(steps: steps)
        let counts = run.counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        FileIO.writeAll(
            .standardError,
            "host-local model, seed \(seed): \(run.counts.values.reduce(0, +)) of \(steps) steps run (\(counts))\n")
        #expect(problems.isEmpty, "seed \(seed): \(problems.joined(separator: "\n"))")
    }

    @Test func aFixedSeedRunsTheModel() throws {
        try run(seed: 20_261_204, steps: 1500)
    }

    /// A new seed each run (or SWIFT_CNI_MODEL_SEED), printed with the result.
    @Test func aNewSeedRunsTheModel() throws {
        let seed =
            getenv("SWIFT_CNI_MODEL_SEED").flatMap { UInt64(String(cString: $0)) } ?? UInt64.random(in: 1...UInt64.max)
        try run(seed: seed, steps: 700)
    }
}
