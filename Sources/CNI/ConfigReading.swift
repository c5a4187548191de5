import Addressing
import JSON

/// Typed reads of config members that fail with code 7 and name the key and what was found:
/// `"mtu": expected a number, found a string`.
public struct ConfigReader: Sendable {
    public let object: JSONObject
    /// Where this object sits, for messages ("ipam.addresses[0]").
    public let path: String

    /// Whether keys match as Go's encoding/json matches struct fields: an exact key or one that
    /// differs only in ASCII case (the last such member wins). The reference decodes every config
    /// this way; runtimes rely on it in places (containerd passes port mappings as `HostPort`).
    public let foldsCase: Bool

    public init(_ object: JSONObject, path: String = "", foldsCase: Bool = false) {
        self.object = object
        self.path = path
        self.foldsCase = foldsCase
    }

    public func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func mismatch(_ key: String, _ expected: String, _ found: JSONValue) -> CNIError {
        .invalidConfig("\"\(keyPath(key))\": expected \(expected), found \(found.kindName)")
    }

    /// The member, treating JSON null as absent (Go's encoding/json does the same).
    public func value(_ key: String) -> JSONValue? {
        let found: JSONValue?
        if foldsCase {
            let folded = key.lowercased()
            found = object.members.last { $0.key == key || $0.key.lowercased() == folded }?.value
        } else {
            found = object[key]
        }
        guard let value = found, !value.isNull else { return nil }
        return value
    }

    /// A string member. A NUL character (`\u0000`, valid JSON) is code 7: every string of a
    /// config ends up as a path, an interface name or another C string, where it would silently
    /// cut the value short (`"/x\u0000/y"` would become `/x`).
    public func string(_ key: String) throws(CNIError) -> String? {
        guard let value = value(key) else { return nil }
        guard let string = value.stringValue else { throw mismatch(key, "a string", value) }
        try Self.refuseNUL(string, keyPath(key))
        return string
    }

    static func refuseNUL(_ string: String, _ where: String) throws(CNIError) {
        if string.utf8.contains(0) {
            throw CNIError.invalidConfig(
                "\"\(`where`)\": contains a NUL character (\\u0000), which no name or path can hold")
        }
    }

    public func bool(_ key: String) throws(CNIError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard let bool = value.boolValue else { throw mismatch(key, "a boolean", value) }
        return bool
    }

    public func int(_ key: String) throws(CNIError) -> Int? {
        guard let value = value(key) else { return nil }
        guard let int = value.intValue else { throw mismatch(key, "an integer", value) }
        return int
    }

    /// An integer within `range`. Anything else is code 7 naming the key, the value and the
    /// range: `"routes[0].priority": -1 is out of range (0 to 4294967295)`. Every number a
    /// config, prevResult or CNI_ARGS gives goes through here or `int`, so no conversion
    /// further on can trap.
    public func integer<T: FixedWidthInteger>(_ key: String, in range: ClosedRange<T>) throws(CNIError) -> T? {
        guard let value = value(key) else { return nil }
        guard case .number(let text) = value else { throw mismatch(key, "an integer", value) }
        guard let integer = value.integer(as: T.self), range.contains(integer) else {
            let shown = text.count > 40 ? String(text.prefix(40)) + "..." : text
            let what =
                value.doubleValue.map { $0.isFinite && $0.rounded() != $0 } == true
                ? "is not an integer" : "is out of range"
            throw .invalidConfig("\"\(keyPath(key))\": \(shown) \(what) (\(range.lowerBound) to \(range.upperBound))")
        }
        return integer
    }

    /// An unsigned 32-bit number (route priority, table, MTU, advmss): 0 to 4294967295.
    public func uint32(_ key: String) throws(CNIError) -> UInt32? { try integer(key, in: 0...UInt32.max) }

    public func object(_ key: String) throws(CNIError) -> ConfigReader? {
        guard let value = value(key) else { return nil }
        guard let object = value.objectValue else { throw mismatch(key, "an object", value) }
        return ConfigReader(object, path: keyPath(key), foldsCase: foldsCase)
    }

    public func array(_ key: String) throws(CNIError) -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        guard let array = value.arrayValue else { throw mismatch(key, "an array", value) }
        return array
    }

    /// An array of objects, each with its own reader ("routes[2]").
    public func objects(_ key: String) throws(CNIError) -> [ConfigReader]? {
        guard let array = try array(key) else { return nil }
        var readers: [ConfigReader] = []
        for (index, element) in array.enumerated() {
            guard let object = element.objectValue else {
                throw CNIError.invalidConfig(
                    "\"\(keyPath(key))[\(index)]\": expected an object, found \(element.kindName)")
            }
            readers.append(ConfigReader(object, path: "\(keyPath(key))[\(index)]", foldsCase: foldsCase))
        }
        return readers
    }

    public func strings(_ key: String) throws(CNIError) -> [String]? {
        guard let array = try array(key) else { return nil }
        var strings: [String] = []
        for (index, element) in array.enumerated() {
            guard let string = element.stringValue else {
                throw CNIError.invalidConfig(
                    "\"\(keyPath(key))[\(index)]\": expected a string, found \(element.kindName)")
            }
            try Self.refuseNUL(string, "\(keyPath(key))[\(index)]")
            strings.append(string)
        }
        return strings
    }

    public func ipAddress(_ key: String) throws(CNIError) -> IPAddress? {
        guard let text = try string(key) else { return nil }
        guard let address = IPAddress(text) else {
            throw CNIError.invalidConfig("\"\(keyPath(key))\": invalid IP address \"\(text)\"")
        }
        return address
    }

    /// "ADDRESS/LENGTH" with the host bits kept.
    public func ipPrefix(_ key: String) throws(CNIError) -> IPPrefix? {
        guard let text = try string(key) else { return nil }
        guard let prefix = IPPrefix(text) else {
            throw CNIError.invalidConfig("\"\(keyPath(key))\": invalid CIDR \"\(text)\"")
        }
        return prefix
    }

    public func macAddress(_ key: String) throws(CNIError) -> MACAddress? {
        guard let text = try string(key) else { return nil }
        guard let mac = MACAddress(text) else {
            throw CNIError.invalidConfig("\"\(keyPath(key))\": invalid MAC address \"\(text)\"")
        }
        return mac
    }
}
