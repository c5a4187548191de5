import Addressing
import JSON

/// One `nft -j -f -` transaction in nft's JSON input. Every table, chain, interface name and
/// comment is a JSON string, so no name from input (an interface called `e"t;{x`, a container
/// id with a space) can change what the command means; the reference's bridge plugin feeds nft
/// JSON for the same reason.
struct NftablesTransaction {
    private(set) var commands: [JSONValue] = []

    var isEmpty: Bool { commands.isEmpty }

    /// `{"nftables": [...]}`, for `nft -j -f -`.
    var document: String { (["nftables": .array(commands)] as JSONValue).serialized() }

    mutating func add(_ object: String, _ fields: JSONValue) { commands.append(["add": [object: fields]]) }
    mutating func flush(_ object: String, _ fields: JSONValue) { commands.append(["flush": [object: fields]]) }
    mutating func delete(_ object: String, _ fields: JSONValue) { commands.append(["delete": [object: fields]]) }

    static func table(_ family: String, _ name: String) -> JSONValue {
        ["family": .string(family), "name": .string(name)]
    }

    static func chain(_ family: String, _ table: String, _ name: String) -> JSONValue {
        ["family": .string(family), "table": .string(table), "name": .string(name)]
    }

    /// A base chain hooked into the packet path.
    static func baseChain(
        _ family: String, _ table: String, _ name: String, type: String, hook: String, priority: Int
    ) -> JSONValue {
        [
            "family": .string(family), "table": .string(table), "name": .string(name), "type": .string(type),
            "hook": .string(hook), "prio": .number(String(priority)), "policy": "accept",
        ]
    }

    static func rule(
        _ family: String, _ table: String, _ chain: String, comment: String? = nil, _ expression: [JSONValue]
    )
        -> JSONValue
    {
        var members: [(String, JSONValue)] = [
            ("family", .string(family)), ("table", .string(table)), ("chain", .string(chain)),
        ]
        if let comment { members.append(("comment", .string(comment))) }
        members.append(("expr", .array(expression)))
        return .object(JSONObject(members))
    }

    /// A rule by its handle, for `delete`.
    static func ruleHandle(_ family: String, _ table: String, _ chain: String, _ handle: Int) -> JSONValue {
        [
            "family": .string(family), "table": .string(table), "chain": .string(chain),
            "handle": .number(String(handle)),
        ]
    }

    // MARK: Expressions

    static func match(_ op: String, _ left: JSONValue, _ right: JSONValue) -> JSONValue {
        ["match": ["op": .string(op), "left": left, "right": right]]
    }

    static func payload(_ protocolName: String, _ field: String) -> JSONValue {
        ["payload": ["protocol": .string(protocolName), "field": .string(field)]]
    }

    static func meta(_ key: String) -> JSONValue { ["meta": ["key": .string(key)]] }

    static func prefix(_ prefix: IPPrefix) -> JSONValue {
        ["prefix": ["addr": .string(prefix.network.description), "len": .number(String(prefix.prefixLength))]]
    }

    static func verdict(_ name: String) -> JSONValue { [name: nil] }
    static func jump(_ chain: String) -> JSONValue { ["jump": ["target": .string(chain)]] }
    static func goto(_ chain: String) -> JSONValue { ["goto": ["target": .string(chain)]] }
}
