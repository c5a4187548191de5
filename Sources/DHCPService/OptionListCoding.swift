import CNI
import JSON

/// The JSON forms a socket request (`DaemonRequest`) and a lease file (`LeaseFile`) share: the
/// `version` key, the `request`ed option codes and the `provide`d options. One coder for both,
/// so that a lease file keeps reading the way version 1 (a request's JSON) was written.
enum OptionListCoding {
    /// The object's `version` (1 when absent, as before the key; a value that is not an
    /// integer counts as newer than any).
    static func version(of object: JSONObject) -> Int {
        object["version"].map { $0.integer(as: Int.self) ?? Int.max } ?? 1
    }

    /// Writes `request` (codes) and `provide` ([{code, value}]) when they are not empty.
    static func put(requested: [UInt8], provided: [(UInt8, [UInt8])], into object: inout JSONObject) {
        if !requested.isEmpty { object["request"] = .array(requested.map { .integer($0) }) }
        if !provided.isEmpty {
            object["provide"] = .array(
                provided.map { ["code": .integer($0.0), "value": .string(String(decoding: $0.1, as: UTF8.self))] })
        }
    }

    /// The `request` codes (entries that are not 0-255 are skipped).
    static func requested(_ reader: ConfigReader) throws(CNIError) -> [UInt8] {
        (try reader.array("request") ?? []).compactMap { $0.integer(as: UInt8.self) }
    }

    /// The `provide` entries with a code 1-254 and a string value.
    static func provided(_ reader: ConfigReader) throws(CNIError) -> [(UInt8, [UInt8])] {
        var provided: [(UInt8, [UInt8])] = []
        for entry in try reader.objects("provide") ?? [] {
            if let code = try entry.integer("code", in: UInt8(1)...254), let text = try entry.string("value") {
                provided.append((code, Array(text.utf8)))
            }
        }
        return provided
    }
}
