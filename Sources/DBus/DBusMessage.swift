/// One D-Bus message: the fixed header, the header fields this client uses, and the body.
public struct DBusMessage: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        case methodCall = 1
        case methodReturn = 2
        case error = 3
        case signal = 4
    }

    /// Header flag: the caller wants no reply.
    public static let noReplyExpected: UInt8 = 0x1
    /// Header flag: the bus must not start a service to deliver the call.
    public static let noAutoStart: UInt8 = 0x2

    /// Messages are at most 128 MiB (the specification's limit); this client reads at most
    /// 1 MiB, far above any reply it asks for.
    static let longestAccepted = 1 << 20

    public var kind: Kind
    public var flags: UInt8 = 0
    public var serial: UInt32
    public var path: String?
    public var interface: String?
    public var member: String?
    public var errorName: String?
    public var replySerial: UInt32?
    public var destination: String?
    public var sender: String?
    public var body: [DBusValue] = []

    public init(
        kind: Kind, serial: UInt32, path: String? = nil, interface: String? = nil, member: String? = nil,
        destination: String? = nil, body: [DBusValue] = []
    ) {
        self.kind = kind
        self.serial = serial
        self.path = path
        self.interface = interface
        self.member = member
        self.destination = destination
        self.body = body
    }

    /// The header field codes of the specification.
    enum Field: UInt8 {
        case path = 1
        case interface = 2
        case member = 3
        case errorName = 4
        case replySerial = 5
        case destination = 6
        case sender = 7
        case signature = 8
        case unixFDs = 9
    }

    /// The message in little-endian wire format.
    public func encoded() -> [UInt8] {
        var bodyWriter = DBusWriter()
        for value in body { bodyWriter.append(value) }
        var fields: [DBusValue] = []
        func field(_ code: Field, _ value: DBusValue?) {
            if let value { fields.append(.structure([.byte(code.rawValue), .variant(value)])) }
        }
        field(.path, path.map(DBusValue.objectPath))
        field(.interface, interface.map(DBusValue.string))
        field(.member, member.map(DBusValue.string))
        field(.errorName, errorName.map(DBusValue.string))
        field(.replySerial, replySerial.map(DBusValue.uint32))
        field(.destination, destination.map(DBusValue.string))
        field(.sender, sender.map(DBusValue.string))
        if !body.isEmpty { field(.signature, .signature(body.map(\.signature).joined())) }
        var writer = DBusWriter()
        writer.append(.byte(UInt8(ascii: "l")))
        writer.append(.byte(kind.rawValue))
        writer.append(.byte(flags))
        writer.append(.byte(1))
        writer.append(.uint32(UInt32(truncatingIfNeeded: bodyWriter.bytes.count)))
        writer.append(.uint32(serial))
        writer.append(.array(element: "(yv)", fields))
        writer.pad(to: 8)
        return writer.bytes + bodyWriter.bytes
    }

    /// The whole length of the message that starts `bytes`, once its first 16 bytes are
    /// there (nil before); throws for a header no message may have.
    static func length(ofMessageStarting bytes: [UInt8]) throws(DBusError) -> Int? {
        guard bytes.count >= 16 else { return nil }
        guard bytes[0] == UInt8(ascii: "l") || bytes[0] == UInt8(ascii: "B") else {
            throw .malformed("endianness byte \(bytes[0])")
        }
        guard bytes[3] == 1 else { throw .malformed("protocol version \(bytes[3])") }
        var reader = DBusReader(bytes, littleEndian: bytes[0] == UInt8(ascii: "l"), offset: 4, end: 16)
        let bodyLength = Int(try reader.integer(UInt32.self))
        _ = try reader.integer(UInt32.self)
        let fieldsLength = Int(try reader.integer(UInt32.self))
        guard bodyLength <= longestAccepted, fieldsLength <= longestAccepted else {
            throw .malformed("a message of \(bodyLength) + \(fieldsLength) bytes (at most \(longestAccepted))")
        }
        return (16 + fieldsLength + 7) / 8 * 8 + bodyLength
    }

    /// Decodes one whole message (as `length(ofMessageStarting:)` measured it).
    public static func decode(_ bytes: [UInt8]) throws(DBusError) -> DBusMessage {
        guard let total = try length(ofMessageStarting: bytes), total == bytes.count else {
            throw .malformed("\(bytes.count) bytes are not one whole message")
        }
        let littleEndian = bytes[0] == UInt8(ascii: "l")
        guard let kind = Kind(rawValue: bytes[1]) else { throw .malformed("message type \(bytes[1])") }
        var reader = DBusReader(bytes, littleEndian: littleEndian, offset: 4)
        let bodyLength = Int(try reader.integer(UInt32.self))
        var message = DBusMessage(kind: kind, serial: try reader.integer(UInt32.self))
        message.flags = bytes[2]
        guard message.serial != 0 else { throw .malformed("serial 0") }
        guard case .array(_, let fields) = try reader.value(Array("a(yv)".utf8)[...], depth: 0) else {
            throw .malformed("header fields")
        }
        var signature = ""
        for case .structure(let pair) in fields {
            guard pair.count == 2, case .byte(let code) = pair[0], case .variant(let value) = pair[1] else { continue }
            switch Field(rawValue: code) {
            case .path: message.path = value.stringValue
            case .interface: message.interface = value.stringValue
            case .member: message.member = value.stringValue
            case .errorName: message.errorName = value.stringValue
            case .replySerial: message.replySerial = value.uint32Value
            case .destination: message.destination = value.stringValue
            case .sender: message.sender = value.stringValue
            case .signature: signature = value.stringValue ?? ""
            case .unixFDs, nil: break
            }
        }
        try reader.align(8)
        guard reader.offset + bodyLength == bytes.count else { throw .malformed("the body's length") }
        var body = DBusReader(bytes, littleEndian: littleEndian, offset: reader.offset)
        message.body = try body.values(signature)
        guard body.offset == bytes.count else {
            throw .malformed("\(bytes.count - body.offset) bytes after a body of signature \"\(signature)\"")
        }
        return message
    }
}
