import DBus
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The D-Bus client: its wire format against the specification's bytes, its decoder against
/// malformed input, and its calls against the reference bus daemon (`dbus-daemon`, on a
/// private socket of the test's own: never the machine's system bus).
@Suite struct DBusTests {
    /// The `Hello` every client sends first, as the specification lays it out: little endian,
    /// a method call, serial 1, header fields path, interface, member, destination (each a
    /// byte code and a variant, 8-aligned), a 109-byte field array, no body.
    @Test func helloIsTheSpecificationsBytes() {
        let hello = DBusMessage(
            kind: .methodCall, serial: 1, path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
            member: "Hello", destination: "org.freedesktop.DBus")
        var expected: [UInt8] = [UInt8(ascii: "l"), 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 109, 0, 0, 0]
        func field(_ code: UInt8, _ type: Character, _ text: String) {
            while expected.count % 8 != 0 { expected.append(0) }
            expected += [code, 1, type.asciiValue ?? 0, 0, UInt8(text.utf8.count), 0, 0, 0] + Array(text.utf8) + [0]
        }
        field(1, "o", "/org/freedesktop/DBus")
        field(2, "s", "org.freedesktop.DBus")
        field(3, "s", "Hello")
        field(6, "s", "org.freedesktop.DBus")
        while expected.count % 8 != 0 { expected.append(0) }
        #expect(hello.encoded() == expected)
        #expect(expected.count == 128)
    }

    /// A call with two strings (firewalld's `addSource(zone, source)`): the signature field
    /// `ss` and a body of two length-prefixed, NUL-ended strings, the second 4-aligned.
    @Test func aCallWithTwoStringsCarriesTheirSignatureAndBody() throws {
        let call = DBusMessage(
            kind: .methodCall, serial: 7, path: "/org/fedoraproject/FirewallD1",
            interface: "org.fedoraproject.FirewallD1.zone", member: "addSource",
            destination: "org.fedoraproject.FirewallD1", body: [.string("trusted"), .string("10.88.0.2/32")])
        let bytes = call.encoded()
        let body: [UInt8] =
            [7, 0, 0, 0] + Array("trusted".utf8) + [0] + [12, 0, 0, 0] + Array("10.88.0.2/32".utf8) + [0]
        #expect(Array(bytes.suffix(body.count)) == body)
        #expect(bytes[4..<8] == [UInt8(body.count), 0, 0, 0])
        let signatureField: [UInt8] = [8, 1, UInt8(ascii: "g"), 0, 2, UInt8(ascii: "s"), UInt8(ascii: "s"), 0]
        #expect(bytes.indices.contains { Array(bytes[$0..<min($0 + 8, bytes.count)]) == signatureField })
        #expect(try DBusMessage.decode(bytes) == call)
    }

    /// Every type round-trips: containers, variants, dictionaries, the alignment of each.
    @Test func everyTypeRoundTrips() throws {
        var message = DBusMessage(kind: .methodReturn, serial: 3)
        message.replySerial = 2
        message.destination = ":1.9"
        message.body = [
            .byte(255), .boolean(true), .int16(-2), .uint16(65535), .int32(-70000), .uint32(4_000_000_000),
            .int64(-1 << 40), .uint64(1 << 63), .double(-0.5), .string("zone ünïcode"), .objectPath("/a/b"),
            .signature("a{sv}"), .unixFD(0), .variant(.array(element: "s", [.string("x"), .string("yz")])),
            .array(
                element: "{sv}",
                [
                    .dictionaryEntry(.string("UnixUserID"), .variant(.uint32(0))),
                    .dictionaryEntry(.string("ProcessID"), .variant(.uint32(42))),
                ]),
            .structure([.byte(1), .int64(2), .structure([.string("deep")])]),
            .array(element: "(yt)", []),
        ]
        #expect(try DBusMessage.decode(message.encoded()) == message)
    }

    /// A big-endian message (a bus on another architecture may send one) decodes the same.
    @Test func bigEndianMessagesDecode() throws {
        var bytes: [UInt8] = [UInt8(ascii: "B"), 2, 0, 1, 0, 0, 0, 9, 0, 0, 0, 5]
        var fields: [UInt8] = []
        fields += [5, 1, UInt8(ascii: "u"), 0, 0, 0, 0, 4]
        fields += [8, 1, UInt8(ascii: "g"), 0, 1, UInt8(ascii: "s"), 0]
        bytes += [0, 0, 0, UInt8(fields.count)] + fields + [0]  // 15 bytes of fields, padded to 8
        bytes += [0, 0, 0, 4] + Array("open".utf8) + [0]
        let message = try DBusMessage.decode(bytes)
        #expect(message.kind == .methodReturn && message.serial == 5 && message.replySerial == 4)
        #expect(message.body == [.string("open")])
    }

    /// Malformed messages are errors, never traps: truncations, lengths past the end, a
    /// boolean of 2, a string without its NUL, nesting past the limit, and random damage.
    @Test func malformedMessagesAreErrorsNotTraps() throws {
        let good = DBusMessage(
            kind: .methodCall, serial: 9, path: "/p", interface: "i.f", member: "m", destination: "d.e",
            body: [.array(element: "{sv}", [.dictionaryEntry(.string("k"), .variant(.boolean(false)))]), .string("s")]
        ).encoded()
        #expect(try DBusMessage.decode(good).serial == 9)
        for cut in [0, 1, 15, 16, 40, good.count - 1] {
            #expect(throws: DBusError.self) { try DBusMessage.decode(Array(good.prefix(cut))) }
        }
        var badBoolean = DBusMessage(kind: .methodReturn, serial: 2, body: [.boolean(true)]).encoded()
        badBoolean[badBoolean.count - 4] = 2
        #expect(throws: DBusError.malformed("a boolean of 2 at offset \(badBoolean.count - 4)")) {
            try DBusMessage.decode(badBoolean)
        }
        var noNul = DBusMessage(kind: .methodReturn, serial: 2, body: [.string("abc")]).encoded()
        noNul[noNul.count - 1] = UInt8(ascii: "x")
        #expect(throws: DBusError.self) { try DBusMessage.decode(noNul) }
        var hugeArray = DBusMessage(kind: .methodReturn, serial: 2, body: [.array(element: "y", [.byte(1)])])
            .encoded()
        hugeArray[hugeArray.count - 5] = 0xff
        hugeArray[hugeArray.count - 2] = 0x7f
        #expect(throws: DBusError.self) { try DBusMessage.decode(hugeArray) }
        // A variant whose type nests 70 arrays deep (the specification allows 32).
        let deep = DBusMessage(
            kind: .methodReturn, serial: 2,
            body: [.variant(.array(element: String(repeating: "a", count: 69) + "y", []))])
        #expect(throws: DBusError.malformed("a variant of signature \"\(String(repeating: "a", count: 70))y\"")) {
            try DBusMessage.decode(deep.encoded())
        }
        #expect(throws: DBusError.malformed("a message of 4294967295 + 0 bytes (at most 1048576)")) {
            try DBusMessage.decode([UInt8(ascii: "l"), 2, 0, 1, 255, 255, 255, 255, 1, 0, 0, 0, 0, 0, 0, 0])
        }
        var random = SeededGenerator(seed: 0xdb05)
        var decoded = 0
        for _ in 0..<5000 {
            var damaged = good
            for _ in 0...random.below(4) { damaged[random.below(damaged.count)] = UInt8(random.below(256)) }
            if random.chance(20) { damaged = Array(damaged.prefix(random.below(damaged.count))) }
            if (try? DBusMessage.decode(damaged)) != nil { decoded += 1 }
        }
        #expect(decoded < 5000, "damage is noticed")
    }

    /// Bus addresses: the first unix path, escapes undone; the default without one.
    @Test func systemBusAddresses() {
        #expect(DBusConnection.socketPath(fromAddress: nil) == "/var/run/dbus/system_bus_socket")
        #expect(
            DBusConnection.socketPath(fromAddress: "unix:path=/run/dbus/system_bus_socket")
                == "/run/dbus/system_bus_socket")
        #expect(DBusConnection.socketPath(fromAddress: "tcp:host=x,port=1;unix:guid=ab,path=/tmp/a%20b") == "/tmp/a b")
        #expect(DBusConnection.socketPath(fromAddress: "unix:abstract=/x") == "/var/run/dbus/system_bus_socket")
    }

    /// Against the reference bus daemon on a private socket: hello (a unique name), an error
    /// reply by name (no owner of firewalld's name), an array reply, a dictionary of
    /// variants (our credentials as the bus saw them), and no bus at all.
    @Test func callsAgainstTheReferenceBusDaemon() throws {
        let daemon = "/usr/bin/dbus-daemon"
        try #require(access(daemon, X_OK) == 0, "dbus-daemon is a test dependency (integration/install-deps.sh)")
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let socket = directory.path + "/bus"
        let pid = try ChildProcess.spawn(
            daemon, arguments: ["--session", "--nofork", "--nopidfile", "--address=unix:path=\(socket)"],
            environment: ["PATH=/usr/bin:/bin"], logFile: directory.path + "/daemon.log")
        defer { ChildProcess.stop(pid) }
        var connection: DBusConnection?
        for _ in 0..<200 where connection == nil {
            connection = try? DBusConnection(path: socket, timeout: 5)
            if connection == nil { usleep(25_000) }
        }
        let bus = try #require(connection, "\(directory.read("daemon.log") ?? "")")
        #expect(bus.uniqueName.hasPrefix(":1."))
        #expect(
            throws: DBusError.remote(
                name: "org.freedesktop.DBus.Error.NameHasNoOwner",
                message: "Could not get owner of name 'org.fedoraproject.FirewallD1': no such name")
        ) {
            try bus.call(
                destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                member: "GetNameOwner", arguments: [.string("org.fedoraproject.FirewallD1")])
        }
        let names = try bus.call(
            destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
            member: "ListNames")
        guard case .array("s", let listed)? = names.first else {
            Issue.record("ListNames: \(names)")
            return
        }
        #expect(listed.contains(.string("org.freedesktop.DBus")) && listed.contains(.string(bus.uniqueName)))
        let credentials = try bus.call(
            destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
            member: "GetConnectionCredentials", arguments: [.string(bus.uniqueName)])
        guard case .array("{sv}", let entries)? = credentials.first else {
            Issue.record("GetConnectionCredentials: \(credentials)")
            return
        }
        #expect(entries.contains(.dictionaryEntry(.string("UnixUserID"), .variant(.uint32(getuid())))))
        #expect(entries.contains(.dictionaryEntry(.string("ProcessID"), .variant(.uint32(UInt32(getpid()))))))
        #expect {
            try DBusConnection(path: directory.path + "/none", timeout: 1)
        } throws: { error in
            guard case .noBus(let cause) = error as? DBusError else { return false }
            return cause.errno == ENOENT
        }
    }
}
