import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// A connection to the D-Bus system bus: unix socket, EXTERNAL authentication as our uid,
/// `Hello`, then method calls answered in order. Synchronous; one per plugin call.
public final class DBusConnection {
    /// The well-known socket of the system bus (the specification's default address).
    public static let defaultSystemBusPath = "/var/run/dbus/system_bus_socket"

    private let socket: FileDescriptor
    private let timeout: Double
    private var received: [UInt8] = []
    private var lastSerial: UInt32 = 0
    /// The unique name the bus gave us (`:1.42`).
    public private(set) var uniqueName = ""

    /// Connects to the system bus at `DBUS_SYSTEM_BUS_ADDRESS` (its first `unix:path=`
    /// address) or the default path, and says hello; each exchange waits at most `timeout`
    /// seconds.
    public static func systemBus(timeout: Double = 10) throws(DBusError) -> DBusConnection {
        let address = getenv("DBUS_SYSTEM_BUS_ADDRESS").map { String(cString: $0) }
        return try DBusConnection(path: socketPath(fromAddress: address), timeout: timeout)
    }

    /// The socket path of a D-Bus server address list (`unix:path=/run/x;tcp:...`): the first
    /// `unix:` entry with a `path`; the default system bus path when there is none.
    public static func socketPath(fromAddress address: String?) -> String {
        for entry in (address ?? "").split(separator: ";") {
            guard entry.hasPrefix("unix:") else { continue }
            for pair in entry.dropFirst(5).split(separator: ",") where pair.hasPrefix("path=") {
                return unescape(pair.dropFirst(5))
            }
        }
        return defaultSystemBusPath
    }

    /// Undoes the address format's %XX escapes (a malformed escape is kept as it is).
    static func unescape(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public init(path: String, timeout: Double = 10) throws(DBusError) {
        self.timeout = timeout
        do {
            socket = try UnixSocket.connect(path, timeout: timeout)
        } catch {
            throw .noBus(error)
        }
        do throws(DBusError) {
            try authenticate()
            let reply = try call(
                destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                member: "Hello")
            uniqueName = reply.first?.stringValue ?? ""
        } catch {
            socket.closeIgnoringErrors()
            throw error
        }
    }

    deinit { socket.closeIgnoringErrors() }

    /// The SASL exchange before the first message: a NUL byte, `AUTH EXTERNAL <uid as hex of
    /// its decimal digits>`, the server's `OK <guid>`, then `BEGIN`.
    private func authenticate() throws(DBusError) {
        let uid = Array(String(getuid()).utf8).map { String($0, radix: 16) }.joined()
        try send(Array("\0AUTH EXTERNAL \(uid)\r\n".utf8))
        let line = try receiveLine()
        guard line.hasPrefix("OK ") else { throw .authenticationRejected(String(line.prefix(200))) }
        try send(Array("BEGIN\r\n".utf8))
    }

    /// Calls `member` and returns the reply's body; an error reply is `DBusError.remote`.
    /// Signals and other messages that arrive meanwhile are dropped.
    @discardableResult
    public func call(
        destination: String, path: String, interface: String, member: String, arguments: [DBusValue] = []
    ) throws(DBusError) -> [DBusValue] {
        lastSerial &+= 1
        if lastSerial == 0 { lastSerial = 1 }
        let serial = lastSerial
        let message = DBusMessage(
            kind: .methodCall, serial: serial, path: path, interface: interface, member: member,
            destination: destination, body: arguments)
        try send(message.encoded())
        let deadline = MonotonicClock.seconds + timeout
        while true {
            let reply = try receiveMessage(until: deadline, operation: "\(interface).\(member)")
            guard reply.replySerial == serial else { continue }
            switch reply.kind {
            case .methodReturn: return reply.body
            case .error:
                throw .remote(name: reply.errorName ?? "an unnamed error", message: reply.body.first?.stringValue ?? "")
            default: continue
            }
        }
    }

    private func send(_ bytes: [UInt8]) throws(DBusError) {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes {
                Glibc.send(socket.rawValue, $0.baseAddress.map { $0 + sent }, bytes.count - sent, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE || errno == ECONNRESET { throw .disconnected }
                throw .system(.last("send to the D-Bus system bus"))
            }
            sent += count
        }
    }

    /// Reads more bytes into `received`, waiting until `deadline`.
    private func fill(until deadline: Double, operation: String) throws(DBusError) {
        while true {
            let remaining = deadline - MonotonicClock.seconds
            guard remaining > 0 else { throw .timedOut(operation: operation) }
            var descriptor = pollfd(fd: socket.rawValue, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, pollMilliseconds(remaining))
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { throw .system(.last("poll the D-Bus system bus")) }
            if ready == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 16_384)
            let count = chunk.withUnsafeMutableBytes { recv(socket.rawValue, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == ECONNRESET { throw .disconnected }
                throw .system(.last("receive from the D-Bus system bus"))
            }
            if count == 0 { throw .disconnected }
            received += chunk[0..<count]
            return
        }
    }

    /// One line of the authentication exchange (without its CR LF), at most 1 KiB.
    private func receiveLine() throws(DBusError) -> String {
        let deadline = MonotonicClock.seconds + timeout
        while true {
            if let newline = received.firstIndex(of: 10) {
                let line = received[..<newline]
                received.removeSubrange(...newline)
                return String(decoding: line.last == 13 ? line.dropLast() : line, as: UTF8.self)
            }
            guard received.count < 1024 else { throw .malformed("an authentication line of over 1 KiB") }
            try fill(until: deadline, operation: "authentication")
        }
    }

    private func receiveMessage(until deadline: Double, operation: String) throws(DBusError) -> DBusMessage {
        while true {
            if let length = try DBusMessage.length(ofMessageStarting: received), received.count >= length {
                let bytes = Array(received[..<length])
                received.removeSubrange(..<length)
                return try DBusMessage.decode(bytes)
            }
            try fill(until: deadline, operation: operation)
        }
    }
}
