import CMnl
import CNI
import CSystem
import JSON
import Netlink
import POSIX
import TestSupport
import Testing

@testable import Plugins

#if canImport(Glibc)
    import Glibc
#endif

/// The pieces issue 13's fixes rest on, without root: checked numbers, linear objects, files
/// of our own that are never followed or blocked on, requests that outgrow their buffer.
@Suite struct ReliabilityUnitTests {
    @Test func integersFromJSONNumbersNeverTrap() {
        #expect(JSONValue.number("42").integer(as: UInt32.self) == 42)
        #expect(JSONValue.number("4.2e1").integer(as: UInt32.self) == 42)
        #expect(JSONValue.number("-0").integer(as: UInt32.self) == 0)
        #expect(JSONValue.number("4294967295").integer(as: UInt32.self) == UInt32.max)
        for text in ["-1", "4294967296", "18446744073709551616", "0.5", "1e400", "-1e400", "1e10"] {
            #expect(JSONValue.number(text).integer(as: UInt32.self) == nil, "\(text)")
        }
        #expect(JSONValue.number("255").integer(as: UInt8.self) == 255)
        #expect(JSONValue.number("256").integer(as: UInt8.self) == nil)
        #expect(JSONValue.string("5").integer(as: Int.self) == nil)
    }

    @Test func configIntegersNameTheKeyAndTheRange() throws {
        let reader = ConfigReader(
            try #require(JSONValue.parse(#"{"a":-1,"b":0.5,"c":"x","d":7,"e":1e400}"#).objectValue), path: "ipam")
        #expect(throws: CNIError.invalidConfig(#""ipam.a": -1 is out of range (0 to 4294967295)"#)) {
            try reader.uint32("a")
        }
        #expect(throws: CNIError.invalidConfig(#""ipam.b": 0.5 is not an integer (0 to 4294967295)"#)) {
            try reader.uint32("b")
        }
        #expect(throws: CNIError.invalidConfig(#""ipam.c": expected an integer, found a string"#)) {
            try reader.uint32("c")
        }
        #expect(throws: CNIError.invalidConfig(#""ipam.e": 1e400 is out of range (0 to 255)"#)) {
            try reader.integer("e", in: UInt8(0)...255)
        }
        #expect(try reader.uint32("d") == 7)
        #expect(try reader.uint32("missing") == nil)
    }

    @Test func routesFromResultsAreRangeChecked() throws {
        let json = try JSONValue.parse(#"{"cniVersion":"1.1.0","routes":[{"dst":"10.0.0.0/8","priority":-1}]}"#)
        #expect(throws: ResultConversionError.self) { try CNIResult(json: json, defaultVersion: "1.1.0") }
        let good = try CNIResult(
            json: try JSONValue.parse(
                #"{"cniVersion":"1.1.0","routes":[{"dst":"10.0.0.0/8","priority":4294967295,"table":100,"scope":253}]}"#
            ),
            defaultVersion: "1.1.0")
        #expect(good.routes.first?.priority == UInt32.max)
        #expect(good.routes.first?.scope == 253)
    }

    /// Defect 4: inserting into an object searched every key. 100k members keep their order,
    /// are found by key, and duplicates replace in place (last wins, as Go).
    @Test func largeObjectsKeepOrderAndLookup() throws {
        let count = 100_000
        let text = "{" + (0..<count).map { #""k\#($0)":\#($0)"# }.joined(separator: ",") + #","k7":"again"}"#
        let object = try #require(try JSONValue.parse(text).objectValue)
        #expect(object.members.count == count)
        #expect(object.keys.first == "k0")
        #expect(object.keys.last == "k\(count - 1)")
        #expect(object["k99999"] == 99999)
        #expect(object["k7"] == "again")
        #expect(object.keys[7] == "k7")
        var edited = object
        edited["k3"] = nil
        #expect(edited.members.count == count - 1)
        #expect(edited["k4"] == 4)
        #expect(edited.keys[3] == "k4")
        edited["k3"] = true
        #expect(edited.keys.last == "k3")
    }

    @Test func ourFilesAreNeverFollowedNorBlockedOn() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        dir.write("target", "precious")
        #expect(symlink(dir.path + "/target", dir.path + "/link") == 0)
        #expect(mkfifo(dir.path + "/fifo", 0o644) == 0)
        #expect(throws: SystemError.self) { try FileIO.readRegularFile(dir.path + "/link") }
        do {
            _ = try FileIO.readRegularFile(dir.path + "/fifo")
            Issue.record("a FIFO was read")
        } catch {
            #expect(error.problem == "not a regular file")
        }
        let large = String(repeating: "x", count: 100_000)
        dir.write("large", large)
        #expect(try FileIO.readRegularFile(dir.path + "/large").count == 100_000)
        #expect(throws: SystemError.self) { try FileIO.readRegularFile(dir.path + "/large", limit: 4096) }

        // AtomicFile: a symlink planted at the temporary name is replaced, not written through.
        #expect(symlink(dir.path + "/target", dir.path + "/entry.tmp") == 0)
        try AtomicFile.replace(dir.path + "/entry", with: Array("new".utf8))
        #expect(dir.read("target") == "precious")
        #expect(dir.read("entry") == "new")
        #expect(!dir.files("").contains("entry.tmp"))
    }

    @Test func privateDirectoriesRefuseWhatOthersCouldChange() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Directory.createPrivate(dir.path + "/mine")
        var info = stat()
        #expect(lstat(dir.path + "/mine", &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(symlink(dir.path + "/mine", dir.path + "/link") == 0)
        #expect(throws: SystemError.self) { try Directory.createPrivate(dir.path + "/link") }
        #expect(mkdir(dir.path + "/open", 0o777) == 0 && chmod(dir.path + "/open", 0o777) == 0)
        #expect(throws: SystemError.self) { try Directory.createPrivate(dir.path + "/open") }
        dir.write("file", "")
        #expect(throws: SystemError.self) { try Directory.createPrivate(dir.path + "/file") }
    }

    /// A request larger than the builder's buffer is an error (EMSGSIZE) and is not sent.
    @Test func oversizedNetlinkRequestIsAnError() throws {
        let transport = RecordingTransport()
        let netlink = RouteNetlink(transport: transport)
        let request = MessageBuilder(type: Int(RTM_NEWLINK), flags: 0)
        request.put(3, bytes: [UInt8](repeating: 0, count: 20_000))
        do throws(NetlinkError) {
            try netlink.perform(request, operation: "create link")
            Issue.record("an oversized request was sent")
        } catch {
            #expect(error.errno == EMSGSIZE)
        }
        #expect(transport.sent.isEmpty)
    }

    /// The temporary name of a sub-interface follows from the attachment, so a DEL after a
    /// killed ADD finds it; it fits IFNAMSIZ.
    @Test func temporaryNamesNameTheAttachment() {
        let a = TemporaryName.make(prefix: "mv", containerID: "abc", ifName: "eth0")
        #expect(a == TemporaryName.make(prefix: "mv", containerID: "abc", ifName: "eth0"))
        #expect(a != TemporaryName.make(prefix: "mv", containerID: "abc", ifName: "eth1"))
        #expect(a != TemporaryName.make(prefix: "mv", containerID: "abd", ifName: "eth0"))
        #expect(a.utf8.count == 10 && a.utf8.count <= 15)
    }

    /// Undo steps run newest first, all of them even when one fails, and the failures are
    /// named in the details of the error the ADD reports.
    @Test func rollbackReportsUndoStepsThatFail() {
        struct StepFailed: Error, CustomStringConvertible { var description: String { "EBUSY" } }
        var order: [String] = []
        do {
            _ = try Rollback.guarding { (rollback: inout Rollback) -> Int in
                rollback.add("first") { order.append("first") }
                rollback.add("delete link mv1") {
                    order.append("second")
                    throw StepFailed()
                }
                throw CNIError(code: .kernelOperationFailed, msg: "add address failed")
            }
            Issue.record("no error")
        } catch let error as CNIError {
            #expect(error.msg == "add address failed")
            #expect(error.details == "undoing the ADD also failed: delete link mv1: EBUSY")
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(order == ["second", "first"])
    }

    /// The definitions that keep the release loadable on glibc 2.34 behave as glibc's.
    @Test func glibcCompatDefinitionsAgreeWithGlibc() throws {
        #expect(hypotf(3, 4) == 5)
        #expect(hypotf(Float.greatestFiniteMagnitude, Float.greatestFiniteMagnitude) == .infinity)
        #expect(hypotf(1e-30, 1e-30) > 0)
        let draws = (0..<64).map { _ in arc4random() }
        #expect(Set(draws).count > 60)
        // An address in this test binary's code and one in libc: the same object, mapping
        // and eh_frame as glibc's own _dl_find_object reports (what libgcc's unwinder uses).
        let here = unsafeBitCast(csystem_monotonic_ns as @convention(c) () -> UInt64, to: UnsafeMutableRawPointer.self)
        let libc = unsafeBitCast(getpid as @convention(c) () -> pid_t, to: UnsafeMutableRawPointer.self)
        #expect(csystem_find_object_agrees(here) == 1)
        #expect(csystem_find_object_agrees(libc) == 1)
    }

    /// Replies are read as the kernel's structs imported from the uapi headers: their Swift
    /// layout must be C's.
    @Test func netlinkHeaderLayoutsAreC() {
        #expect(MemoryLayout<nlmsghdr>.size == cmnl_sizeof_nlmsghdr())
        #expect(MemoryLayout<nlmsgerr>.size == cmnl_sizeof_nlmsgerr())
        #expect(MemoryLayout<ifinfomsg>.size == cmnl_sizeof_ifinfomsg())
        #expect(MemoryLayout<ifaddrmsg>.size == cmnl_sizeof_ifaddrmsg())
        #expect(MemoryLayout<rtmsg>.size == cmnl_sizeof_rtmsg())
    }
}
