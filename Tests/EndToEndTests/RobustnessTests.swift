import JSON
import TestSupport
import Testing

/// Bad input of every shape gets a CNI error JSON and a non-zero exit, never a crash (a
/// signal), a hang, or anything left behind: each plugin binary is fed mutated configs.
@Suite struct RobustnessTests {
    /// Values of every JSON kind, including hostile ones.
    static let oddValues: [JSONValue] = [
        .null, true, 0, -1, .number("1e309"), .number("99999999999999999999"), .number("0.5"), "", "x",
        .string(String(repeating: "a", count: 5000)), "10.0.0.1/99", "::/0", "up0\n", "../../etc", [], [[]], [:],
        ["a": [1, 2, [:]]],
    ]

    /// A config with one member (at any depth) replaced, removed, or a new one added.
    static func mutate(_ value: JSONValue, _ generator: inout some RandomNumberGenerator) -> JSONValue {
        switch value {
        case .object(var object) where !object.isEmpty && Int.random(in: 0..<4, using: &generator) > 0:
            let key = object.keys.randomElement(using: &generator) ?? ""
            switch Int.random(in: 0..<4, using: &generator) {
            case 0: object[key] = nil
            case 1: object[key] = oddValues.randomElement(using: &generator)
            default: object[key] = mutate(object[key] ?? .null, &generator)
            }
            return .object(object)
        case .array(var array) where !array.isEmpty:
            let index = Int.random(in: 0..<array.count, using: &generator)
            array[index] =
                Int.random(in: 0..<2, using: &generator) == 0
                ? (oddValues.randomElement(using: &generator) ?? .null) : mutate(array[index], &generator)
            return .array(array)
        default:
            return oddValues.randomElement(using: &generator) ?? .null
        }
    }

    @Test(arguments: [
        (
            "macvlan",
            #"{"cniVersion":"1.1.0","name":"rob","type":"macvlan","master":"up0","mode":"bridge","mtu":1400,"mac":"02:00:00:00:00:09","ipam":{"type":"host-local","dataDir":"STORE","ranges":[[{"subnet":"10.50.0.0/24","gateway":"10.50.0.1"}]],"routes":[{"dst":"0.0.0.0/0"}]},"dns":{"nameservers":["10.50.0.53"]},"runtimeConfig":{"mac":"02:00:00:00:00:0a"},"args":{"cni":{"ips":["10.50.0.9"]}}}"#
        ),
        (
            "bridge",
            #"{"cniVersion":"1.0.0","name":"rob","type":"bridge","bridge":"rb0","isGateway":true,"hairpinMode":true,"vlanTrunk":[{"minID":5,"maxID":6}],"ipam":{"type":"static","addresses":[{"address":"10.51.0.5/24","gateway":"10.51.0.1"}],"routes":[{"dst":"10.52.0.0/16","gw":"10.51.0.1"}]}}"#
        ),
        (
            "host-local",
            #"{"cniVersion":"0.4.0","name":"rob","type":"host-local","ipam":{"type":"host-local","dataDir":"STORE","subnet":"10.53.0.0/24","rangeStart":"10.53.0.10","ranges":[[{"subnet":"fd53::/64"}]],"resolvConf":"/etc/hosts"}}"#
        ),
    ])
    func mutatedConfigsNeverCrash(_ plugin: String, _ template: String) throws {
        let stage = try PluginStage()
        defer { stage.tearDown() }
        let (bed, store, host, container) = (stage.bed, stage.store, stage.host, stage.container)
        let base = try JSONValue.parse(template.replacingFirst("STORE", with: store.path))
        var generator = SystemRandomNumberGenerator()
        var failures = 0
        for round in 0..<60 {
            var config = base
            for _ in 0...Int.random(in: 0..<3, using: &generator) { config = Self.mutate(config, &generator) }
            let text =
                round % 10 == 9
                ? String(config.serialized().dropLast(Int.random(in: 1...5, using: &generator))) : config.serialized()
            for command in ["ADD", "CHECK", "DEL"] {
                // Mutations make relative paths (a `dataDir` of "::/0"): they resolve in the store.
                let outcome = try bed.plugin(
                    plugin, command, config: text, host: host, containerID: "r\(round)", netns: bed.path(container),
                    workingDirectory: store.path)
                #expect(
                    outcome.status == 0 || outcome.status == 1,
                    "\(plugin) \(command) exited \(outcome.status) on \(text)")
                if outcome.status == 1 {
                    failures += 1
                    #expect(
                        outcome.errorCode != nil,
                        "\(plugin) \(command) printed no error object for \(text): \(outcome.output)")
                }
            }
            // Whatever the ADD did, the DEL with the same config cleaned it (or it never made it).
            let leftovers = try bed.linkNames(container).filter { $0 != "lo" }
            if !leftovers.isEmpty {
                _ = try bed.plugin(
                    plugin, "DEL", config: base.serialized(), host: host, containerID: "r\(round)",
                    netns: bed.path(container))
                for name in leftovers where (try? bed.linkNames(container))?.contains(name) == true {
                    try bed.ip(container, "link", "del", name)
                }
            }
        }
        #expect(failures > 0, "no mutation was refused: the test did not exercise the error paths")
    }
}
