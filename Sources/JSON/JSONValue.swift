/// A JSON document as a value: what CNI configs and results are made of.
///
/// Objects keep their keys in document order, so a config handed on to a delegate or
/// printed back keeps the shape its author gave it; numbers keep their literal text, so
/// nothing is rounded on the way through.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public static func integer<T: BinaryInteger>(_ value: T) -> JSONValue { .number(String(value)) }

    /// The member named `key` of an object; nil for a missing key or a non-object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// An integral number that fits in `Int`; nil for fractions, exponents out of range or non-numbers.
    public var intValue: Int? {
        guard case .number(let text) = self else { return nil }
        if let exact = Int(text) { return exact }
        if let double = Double(text), double.rounded() == double, abs(double) < 9.0e15 { return Int(double) }
        return nil
    }

    /// The number as a `T` when it is integral and `T` can hold it exactly ("42", "4.2e1",
    /// "-0"); nil for fractions, values out of `T`'s range (1e400 included) and non-numbers.
    /// Never traps, whatever the text.
    public func integer<T: FixedWidthInteger>(as type: T.Type) -> T? {
        guard case .number(let text) = self else { return nil }
        if let exact = T(text) { return exact }
        guard let double = Double(text), double.isFinite, double.rounded() == double else { return nil }
        return T(exactly: double)
    }

    public var doubleValue: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }

    /// A short name of the value's kind, for error messages ("expected a string, found an array").
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A JSON object: members in document order, with lookup by key (the last of duplicates wins,
/// as in Go's encoding/json). Past a few members, lookup and insertion go through a hash index
/// of the keys, so building an object of n members costs O(n), not O(n²).
public struct JSONObject: Sendable, Equatable {
    public private(set) var members: [(key: String, value: JSONValue)] = []
    /// Where each key sits in `members`, once the object has more than `indexedFrom` members;
    /// smaller objects are searched in order. Most objects of a config hold a handful of
    /// members, and a hash index each more than doubled the memory of object-heavy documents.
    private var positions: [String: Int]?
    static let indexedFrom = 8

    public init() {}

    public init(_ members: [(String, JSONValue)]) {
        for (key, value) in members { self[key] = value }
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.members.count == rhs.members.count
            && zip(lhs.members, rhs.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public var keys: [String] { members.map(\.key) }
    public var isEmpty: Bool { members.isEmpty }

    private func position(of key: String) -> Int? {
        if let positions { return positions[key] }
        return members.firstIndex { $0.key == key }
    }

    /// Reading finds a member; writing replaces it in place or appends it; writing nil removes
    /// it (O(n): the positions after it move).
    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { members[$0].value } }
        set {
            if let index = position(of: key) {
                if let newValue {
                    members[index].value = newValue
                } else {
                    members.remove(at: index)
                    if positions != nil {
                        positions?[key] = nil
                        for position in index..<members.count { positions?[members[position].key] = position }
                    }
                }
            } else if let newValue {
                members.append((key, newValue))
                if positions != nil {
                    positions?[key] = members.count - 1
                } else if members.count > Self.indexedFrom {
                    var index: [String: Int] = [:]
                    index.reserveCapacity(members.count * 2)
                    for (position, member) in members.enumerated() { index[member.key] = position }
                    positions = index
                }
            }
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(String(value)) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
    public init(nilLiteral: ()) { self = .null }
}
