import Addressing
import CNI
import JSON
import Netlink

/// The macvlan plugin's config keys, as the reference (plugins/main/macvlan, v1.9) reads them:
/// the shared ones, `mode`, `bcqueuelen`, and `mac` (config < CNI_ARGS MAC < runtimeConfig.mac).
public struct MacvlanConfig {
    var settings: SubInterfaceSettings
    var mode: MacvlanMode
    var broadcastQueueLength: UInt32?

    /// Reads the keys; code 7 for a bad mode (listing the valid ones), a negative MTU or a bad MAC.
    init(_ request: CNIRequest) throws(CNIError) {
        let reader = request.config.reader
        settings = try SubInterfaceSettings.read(request, mac: try request.containerMAC(includeArgsCNI: false))
        mode = try reader.choice(
            "mode", what: "macvlan mode", default: .bridge, MacvlanMode.allCases.map { ($0.name, $0) })
        broadcastQueueLength = try reader.uint32("bcqueuelen")
    }
}
