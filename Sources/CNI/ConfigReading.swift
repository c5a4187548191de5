import Addressing
import JSON

/// Typed reads of config members that fail with code 7 and name the key and what was found:
/// `"mtu": expected a number, found a string`.
public struct ConfigReader: Sendable {
    public let object: JSONObject
    /// Where this object sits, for messages ("ipam.addresses[0]").
    public let path: String

    public init(_ object: JSONObject, path: String = "") {
        self.object = object
        self.path = path
    }

    public func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func mismatch(_ key: String, _ expected: String, _ found: JSONValue) -> CNIError {
        .invalidConfig("\"\(keyPath(key))\": expected \(expected), found \(found.kindName)")
    }

    /// The member, treating JSON null as absent (Go's encoding/json does the same).
    public func value(_ key: String) -> JSONValue? {
        guard let value = object[key], !value.isNull else { return nil }
        return value
    }

    public func string(_ key: String) throws(CNIError) -> String? {
        guard let value = value(key) else { return nil }
        guard let string = value.stringValue else { throw mismatch(key, "a string", value) }
        return string
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

    public func object(_ key: String) throws(CNIError) -> ConfigReader? {
        guard let value = value(key) else { return nil }
        guard let object = value.objectValue else { throw mismatch(key, "an object", value) }
        return ConfigReader(object, path: keyPath(key))
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
                throw CNIError.invalidConfig("\"\(keyPath(key))[\(index)]\": expected an object, found \(element.kindName)")
            }
            readers.append(ConfigReader(object, path: "\(keyPath(key))[\(index)]"))
        }
        return readers
    }

    public func strings(_ key: String) throws(CNIError) -> [String]? {
        guard let array = try array(key) else { return nil }
        var strings: [String] = []
        for (index, element) in array.enumerated() {
            guard let string = element.stringValue else {
                throw CNIError.invalidConfig("\"\(keyPath(key))[\(index)]\": expected a string, found \(element.kindName)")
            }
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
