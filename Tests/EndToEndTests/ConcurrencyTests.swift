import JSON
import POSIX
import Synchronization
import TestSupport
import Testing

/// A node starting and stopping many pods at once: 200 ADD+DEL pairs of macvlan with one
/// host-local store, 40 at a time, into one container namespace (an interface each). Every call
/// succeeds, every address is distinct while held, and nothing is left: no link, no reservation,
/// no index entry, no lock file.
@Suite struct ConcurrencyTests {
    @Test func twoHundredConcurrentAddDelPairs() throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let config =
            #"{"cniVersion":"1.1.0","name":"many","type":"macvlan","master":"up0","ipam":{"type":"host-local","dataDir":"\#(stage.store.path)","ranges":[[{"subnet":"10.89.0.0/16"}]]}}"#
        let failures = Mutex<[String]>([])
        let addresses = Mutex<[String]>([])
        let start = MonotonicClock.seconds
        let (bed, host, netns) = (stage.bed, stage.host, stage.netns)
        for wave in 0..<5 {
            ParallelThreads.run(40) { n in
                let id = "p\(wave * 40 + n)"
                do {
                    let add = try bed.plugin(
                        "macvlan", "ADD", config: config, host: host, containerID: id, netns: netns,
                        ifName: "n\(wave * 40 + n)")
                    if add.status != 0 { failures.withLock { $0.append("\(id) ADD: \(add.output)") } }
                    if let address = add.json?["ips"]?.arrayValue?.first?["address"]?.stringValue {
                        addresses.withLock { $0.append(address) }
                    }
                    let del = try bed.plugin(
                        "macvlan", "DEL", config: config, host: host, containerID: id, netns: netns,
                        ifName: "n\(wave * 40 + n)")
                    if del.status != 0 { failures.withLock { $0.append("\(id) DEL: \(del.output)") } }
                } catch {
                    failures.withLock { $0.append("\(id): \(error)") }
                }
            }
        }
        FileIO.writeAll(
            .standardError,
            "concurrency: 200 ADD+DEL pairs, 40 at a time, in \(Int(MonotonicClock.seconds - start)) s\n")
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 }.prefix(5))")
        #expect(addresses.withLock { $0.count } == 200)
        #expect(try stage.bed.linkNames(stage.container) == ["lo"])
        #expect(stage.store.files("many").filter { $0 != "lock" && !$0.hasPrefix("last_reserved_ip") }.isEmpty)
        #expect(stage.store.indexEntries("many").isEmpty)
        let locks = Directory.entryNames(atPath: "/run/swift-cni/attachments")
        #expect(
            !locks.contains { $0.hasPrefix(AttachmentTagText.networkPrefix("many")) },
            "attachment locks left: \(locks.count)")
    }
}
