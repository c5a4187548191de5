import Addressing
import CNI
import JSON
import Netlink

/// The macvlan plugin's config keys, as the reference reads them (reference-plugins.md).
struct MacvlanConfig {
    /// nil: the interface of the host's default route.
    var master: String?
    var mode: MacvlanMode
    /// 0: the kernel's default (the master's MTU).
    var mtu: UInt32
    /// After precedence: config `mac` < CNI_ARGS MAC < runtimeConfig.mac.
    var mac: MACAddress?
    var linkInContainer: Bool
    var broadcastQueueLength: UInt32?
    var dns: DNS?

    /// Reads the keys; code 7 for a bad mode (listing the valid ones), a negative MTU or a bad MAC.
    init(_ request: CNIRequest) throws(CNIError) {
        let reader = request.config.reader
        master = try reader.string("master").flatMap { $0.isEmpty ? nil : $0 }
        let modeName = try reader.string("mode") ?? ""
        if modeName.isEmpty {
            mode = .bridge
        } else if let parsed = MacvlanMode(name: modeName) {
            mode = parsed
        } else {
            let valid = MacvlanMode.allCases.map(\.name).joined(separator: ", ")
            throw CNIError.invalidConfig("unknown macvlan mode \"\(modeName)\" (valid: \(valid))")
        }
        let mtuValue = try reader.int("mtu") ?? 0
        guard mtuValue >= 0, mtuValue <= Int(UInt32.max) else {
            throw CNIError.invalidConfig("invalid MTU \(mtuValue): it must be 0 (the master's) or positive")
        }
        mtu = UInt32(mtuValue)
        linkInContainer = try reader.bool("linkInContainer") ?? false
        if let queue = try reader.int("bcqueuelen") {
            guard queue >= 0, queue <= Int(UInt32.max) else {
                throw CNIError.invalidConfig("invalid bcqueuelen \(queue)")
            }
            broadcastQueueLength = UInt32(queue)
        }
        dns = request.config.dns

        var chosen = try reader.macAddress("mac")
        if request.command == .add || request.command == .check {
            let args = try request.cniArgs(knownKeys: ["MAC", "IP", "GATEWAY"])
            if let text = args["MAC"], !text.isEmpty {
                guard let parsed = MACAddress(text) else { throw CNIError.invalidConfig("CNI_ARGS MAC: invalid MAC address \"\(text)\"") }
                chosen = parsed
            }
        }
        if let text = try ConfigReader(request.config.runtimeConfig, path: "runtimeConfig").string("mac"), !text.isEmpty {
            guard let parsed = MACAddress(text) else { throw CNIError.invalidConfig("runtimeConfig.mac: invalid MAC address \"\(text)\"") }
            chosen = parsed
        }
        if let chosen, chosen.isMulticast || chosen.isZero {
            throw CNIError.invalidConfig("MAC address \(chosen) is not a unicast address")
        }
        mac = chosen
    }
}
