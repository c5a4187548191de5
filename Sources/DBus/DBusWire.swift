/// The D-Bus wire format of values: every value aligned to its type's boundary, counted
/// from the start of the message (the body starts on an 8-byte boundary, so offsets in the
/// body align the same way).
enum DBusWire {
    /// Signatures are at most 255 bytes; containers nest at most 64 deep (32 arrays and 32
    /// structures, as the specification allows).
    static let longestSignature = 255
    static let deepestNesting = 64

    /// The alignment of a value whose type starts with `code`.
    static func alignment(of code: UInt8) -> Int {
        switch code {
        case UInt8(ascii: "y"), UInt8(ascii: "g"), UInt8(ascii: "v"): 1
        case UInt8(ascii: "n"), UInt8(ascii: "q"): 2
        case UInt8(ascii: "x"), UInt8(ascii: "t"), UInt8(ascii: "d"), UInt8(ascii: "("), UInt8(ascii: "{"): 8
        default: 4
        }
    }

    /// Splits a signature into its complete types; nil when it is not a valid signature.
    static func completeTypes(_ signature: String) -> [String]? {
        let bytes = Array(signature.utf8)
        guard bytes.count <= longestSignature else { return nil }
        var types: [String] = []
        var index = 0
        while index < bytes.count {
            let start = index
            guard skipCompleteType(bytes, at: &index, depth: 0) else { return nil }
            types.append(String(decoding: bytes[start..<index], as: UTF8.self))
        }
        return types
    }

    /// Moves `index` past one complete type; false when there is none there.
    static func skipCompleteType(_ bytes: [UInt8], at index: inout Int, depth: Int) -> Bool {
        guard index < bytes.count, depth < deepestNesting else { return false }
        let code = bytes[index]
        index += 1
        switch code {
        case UInt8(ascii: "y"), UInt8(ascii: "b"), UInt8(ascii: "n"), UInt8(ascii: "q"), UInt8(ascii: "i"),
            UInt8(ascii: "u"), UInt8(ascii: "x"), UInt8(ascii: "t"), UInt8(ascii: "d"), UInt8(ascii: "s"),
            UInt8(ascii: "o"), UInt8(ascii: "g"), UInt8(ascii: "h"), UInt8(ascii: "v"):
            return true
        case UInt8(ascii: "a"):
            if index < bytes.count, bytes[index] == UInt8(ascii: "{") {
                index += 1
                guard index < bytes.count, isBasic(bytes[index]) else { return false }
                index += 1
                guard skipCompleteType(bytes, at: &index, depth: depth + 1), index < bytes.count,
                    bytes[index] == UInt8(ascii: "}")
                else { return false }
                index += 1
                return true
            }
            return skipCompleteType(bytes, at: &index, depth: depth + 1)
        case UInt8(ascii: "("):
            var members = 0
            while index < bytes.count, bytes[index] != UInt8(ascii: ")") {
                guard skipCompleteType(bytes, at: &index, depth: depth + 1) else { return false }
                members += 1
            }
            guard index < bytes.count, members > 0 else { return false }
            index += 1
            return true
        default:
            return false
        }
    }

    static func isBasic(_ code: UInt8) -> Bool {
        Array("ybnqiuxtdsogh".utf8).contains(code)
    }
}

/// Writes values in little-endian D-Bus wire format.
struct DBusWriter {
    private(set) var bytes: [UInt8] = []

    mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    mutating func appendInteger<T: FixedWidthInteger>(_ value: T) {
        pad(to: MemoryLayout<T>.size)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ value: DBusValue) {
        switch value {
        case .byte(let byte): bytes.append(byte)
        case .boolean(let truth): appendInteger(UInt32(truth ? 1 : 0))
        case .int16(let number): appendInteger(number)
        case .uint16(let number): appendInteger(number)
        case .int32(let number): appendInteger(number)
        case .uint32(let number): appendInteger(number)
        case .int64(let number): appendInteger(number)
        case .uint64(let number): appendInteger(number)
        case .double(let number): appendInteger(number.bitPattern)
        case .unixFD(let index): appendInteger(index)
        case .string(let text), .objectPath(let text):
            let utf8 = Array(text.utf8)
            appendInteger(UInt32(truncatingIfNeeded: utf8.count))
            bytes.append(contentsOf: utf8)
            bytes.append(0)
        case .signature(let text):
            let utf8 = Array(text.utf8)
            bytes.append(UInt8(truncatingIfNeeded: utf8.count))
            bytes.append(contentsOf: utf8)
            bytes.append(0)
        case .variant(let inner):
            append(.signature(inner.signature))
            append(inner)
        case .array(let element, let elements):
            appendInteger(UInt32(0))
            let lengthAt = bytes.count - 4
            pad(to: DBusWire.alignment(of: element.utf8.first ?? 0))
            let start = bytes.count
            for item in elements { append(item) }
            let length = UInt32(truncatingIfNeeded: bytes.count - start).littleEndian
            withUnsafeBytes(of: length) { raw in
                for offset in 0..<4 { bytes[lengthAt + offset] = raw[offset] }
            }
        case .structure(let members):
            pad(to: 8)
            for member in members { append(member) }
        case .dictionaryEntry(let key, let value):
            pad(to: 8)
            append(key)
            append(value)
        }
    }
}

/// Reads values from a received message; every length and offset is checked against the
/// message, so a malformed one becomes `DBusError.malformed`, never a trap.
struct DBusReader {
    let bytes: [UInt8]
    let littleEndian: Bool
    var offset: Int
    let end: Int

    init(_ bytes: [UInt8], littleEndian: Bool, offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.littleEndian = littleEndian
        self.offset = offset
        self.end = min(end ?? bytes.count, bytes.count)
    }

    mutating func align(_ alignment: Int) throws(DBusError) {
        let aligned = (offset + alignment - 1) / alignment * alignment
        guard aligned <= end else { throw .malformed("padding runs past the end at offset \(offset)") }
        offset = aligned
    }

    mutating func take(_ count: Int) throws(DBusError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= end - offset else {
            throw .malformed("\(count) bytes wanted at offset \(offset), \(end - offset) left")
        }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(DBusError) -> T {
        try align(MemoryLayout<T>.size)
        var value: T = 0
        for (index, byte) in try take(MemoryLayout<T>.size).enumerated() {
            let shift = littleEndian ? index * 8 : (MemoryLayout<T>.size - 1 - index) * 8
            value |= T(truncatingIfNeeded: byte) << shift
        }
        return value
    }

    /// A `s` or `o` string: length, bytes, NUL.
    mutating func string() throws(DBusError) -> String {
        let length = try integer(UInt32.self)
        guard length <= UInt32(end - offset) else {
            throw .malformed("a string of \(length) bytes at offset \(offset)")
        }
        let text = try take(Int(length))
        guard try take(1).first == 0 else { throw .malformed("a string without its NUL at offset \(offset - 1)") }
        return String(decoding: text, as: UTF8.self)
    }

    /// A `g` signature: one length byte, bytes, NUL.
    mutating func signature() throws(DBusError) -> String {
        let length = Int(try take(1).first ?? 0)
        let text = try take(length)
        guard try take(1).first == 0 else { throw .malformed("a signature without its NUL at offset \(offset - 1)") }
        return String(decoding: text, as: UTF8.self)
    }

    /// The values of `signature`, one per complete type.
    mutating func values(_ signature: String) throws(DBusError) -> [DBusValue] {
        guard let types = DBusWire.completeTypes(signature) else { throw .malformed("signature \"\(signature)\"") }
        var values: [DBusValue] = []
        for type in types { values.append(try value(Array(type.utf8)[...], depth: 0)) }
        return values
    }

    /// One value of the complete type `type` (already checked by `DBusWire.completeTypes`).
    mutating func value(_ type: ArraySlice<UInt8>, depth: Int) throws(DBusError) -> DBusValue {
        guard let code = type.first, depth < DBusWire.deepestNesting else {
            throw .malformed("a value nested too deeply at offset \(offset)")
        }
        switch code {
        case UInt8(ascii: "y"): return .byte(try take(1).first ?? 0)
        case UInt8(ascii: "b"):
            let raw = try integer(UInt32.self)
            guard raw <= 1 else { throw .malformed("a boolean of \(raw) at offset \(offset - 4)") }
            return .boolean(raw == 1)
        case UInt8(ascii: "n"): return .int16(try integer(Int16.self))
        case UInt8(ascii: "q"): return .uint16(try integer(UInt16.self))
        case UInt8(ascii: "i"): return .int32(try integer(Int32.self))
        case UInt8(ascii: "u"): return .uint32(try integer(UInt32.self))
        case UInt8(ascii: "h"): return .unixFD(try integer(UInt32.self))
        case UInt8(ascii: "x"): return .int64(try integer(Int64.self))
        case UInt8(ascii: "t"): return .uint64(try integer(UInt64.self))
        case UInt8(ascii: "d"): return .double(Double(bitPattern: try integer(UInt64.self)))
        case UInt8(ascii: "s"): return .string(try string())
        case UInt8(ascii: "o"): return .objectPath(try string())
        case UInt8(ascii: "g"): return .signature(try signature())
        case UInt8(ascii: "v"):
            let inner = try signature()
            guard let types = DBusWire.completeTypes(inner), types.count == 1 else {
                throw .malformed("a variant of signature \"\(inner)\"")
            }
            return .variant(try value(Array(inner.utf8)[...], depth: depth + 1))
        case UInt8(ascii: "a"):
            let length = try integer(UInt32.self)
            let element = type.dropFirst()
            try align(DBusWire.alignment(of: element.first ?? 0))
            guard length <= UInt32(end - offset) else {
                throw .malformed("an array of \(length) bytes at offset \(offset)")
            }
            let stop = offset + Int(length)
            var items: [DBusValue] = []
            while offset < stop {
                items.append(try value(element, depth: depth + 1))
            }
            guard offset == stop else { throw .malformed("an array's elements overrun its length at offset \(offset)") }
            return .array(element: String(decoding: element, as: UTF8.self), items)
        case UInt8(ascii: "("), UInt8(ascii: "{"):
            try align(8)
            let inner = Array(type)
            var members: [DBusValue] = []
            var local = 1
            while local < inner.count - 1 {
                let start = local
                guard DBusWire.skipCompleteType(inner, at: &local, depth: depth + 1) else {
                    throw .malformed("signature \"\(String(decoding: inner, as: UTF8.self))\"")
                }
                members.append(try value(inner[start..<local], depth: depth + 1))
            }
            if code == UInt8(ascii: "{") {
                guard members.count == 2 else { throw .malformed("a dictionary entry of \(members.count) values") }
                return .dictionaryEntry(members[0], members[1])
            }
            return .structure(members)
        default:
            throw .malformed("type code \(code)")
        }
    }
}
