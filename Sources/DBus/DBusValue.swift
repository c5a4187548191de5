/// A D-Bus value (the D-Bus specification's type system): what this client writes in a
/// method call and reads back from a reply, a signal or a header field.
public indirect enum DBusValue: Sendable, Equatable {
    case byte(UInt8)
    case boolean(Bool)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case double(Double)
    case string(String)
    case objectPath(String)
    case signature(String)
    /// An index into the message's file descriptors (`h`); this client passes none.
    case unixFD(UInt32)
    case variant(DBusValue)
    /// An array; `element` is the signature of one element, so an empty array has a type too.
    case array(element: String, [DBusValue])
    case structure([DBusValue])
    case dictionaryEntry(DBusValue, DBusValue)

    /// The value's signature: one complete type.
    public var signature: String {
        switch self {
        case .byte: "y"
        case .boolean: "b"
        case .int16: "n"
        case .uint16: "q"
        case .int32: "i"
        case .uint32: "u"
        case .int64: "x"
        case .uint64: "t"
        case .double: "d"
        case .string: "s"
        case .objectPath: "o"
        case .signature: "g"
        case .unixFD: "h"
        case .variant: "v"
        case .array(let element, _): "a" + element
        case .structure(let members): "(" + members.map(\.signature).joined() + ")"
        case .dictionaryEntry(let key, let value): "{" + key.signature + value.signature + "}"
        }
    }

    /// The string of a `s`, `o` or `g` value, or of a variant holding one.
    public var stringValue: String? {
        switch self {
        case .string(let text), .objectPath(let text), .signature(let text): text
        case .variant(let inner): inner.stringValue
        default: nil
        }
    }

    /// The truth of a `b` value, or of a variant holding one.
    public var booleanValue: Bool? {
        switch self {
        case .boolean(let truth): truth
        case .variant(let inner): inner.booleanValue
        default: nil
        }
    }

    /// The number of a `u` value, or of a variant holding one.
    public var uint32Value: UInt32? {
        switch self {
        case .uint32(let number): number
        case .variant(let inner): inner.uint32Value
        default: nil
        }
    }
}
