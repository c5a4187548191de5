import CNI
import IPAM
import POSIX

/// Runs a main plugin's IPAM: delegated through CNI_PATH as the spec says, or, when the
/// `host-local` or `static` found first on CNI_PATH is provably this very build of ours, the
/// same code run in this process, which saves an exec per ADD and DEL with the same effect.
/// "Provably ours" is decided by the file itself: the same file as the running binary (the
/// release's hard links, reached through any symlinked directory), or a binary carrying the
/// same build identity note (separately built executables of one build). Another
/// implementation's `host-local` — the reference's, or an older build of ours — is exec'd.
enum IPAMInvoker {
    /// The in-process implementation for `type`, when the delegate on CNI_PATH is ours.
    static func inProcessPlugin(type: String, request: CNIRequest) -> (any CNIPlugin)? {
        let plugin: any CNIPlugin
        switch type {
        case "host-local": plugin = HostLocalPlugin()
        case "static": plugin = StaticPlugin()
        default: return nil
        }
        guard let found = try? Delegation.find(type: type, in: request.environment.path),
            BuildIdentity.isOurs(found)
        else { return nil }
        return plugin
    }

    /// Runs `command` on the IPAM of the config; nil when there is none. ADD returns the result.
    /// `inProcessAllowed` false always execs (a debug build's test hook, see `SystemHost`).
    @discardableResult
    static func run(_ command: CNICommand, _ request: CNIRequest, inProcessAllowed: Bool = true) throws -> CNIResult? {
        guard let type = request.config.ipamType else { return nil }
        guard inProcessAllowed, let plugin = inProcessPlugin(type: type, request: request) else {
            return try Delegation.run(type: type, command: command, request: request)
        }
        switch command {
        case .add: return try plugin.add(request)
        case .delete: try plugin.delete(request)
        case .check: try plugin.check(request)
        case .garbageCollect: try plugin.garbageCollect(request)
        case .status: try plugin.status(request)
        case .version: break
        }
        return nil
    }
}

extension IPAMHost {
    /// A main plugin's IPAM ADD: runs it, registers its DEL as the undo step, and returns its
    /// addresses pointed at `interfaceIndex` of the main plugin's result, with its routes and
    /// DNS; nil when the config has no IPAM. An IPAM that returns no address, or a gateway of
    /// another family than its address or route, is an error (code 101; its DEL undoes it).
    func addIPAM(_ request: CNIRequest, interfaceIndex: Int, rollback: inout Rollback) throws -> CNIResult? {
        guard let ipamType = request.config.ipamType else { return nil }
        guard let ipamResult = try runIPAM(.add, request) else {
            throw CNIError(code: .delegateFailed, msg: "IPAM plugin \"\(ipamType)\" returned no result")
        }
        rollback.add("IPAM DEL") { _ = try runIPAM(.delete, request) }
        try checkpoint("ipam")
        guard !ipamResult.ips.isEmpty else {
            throw CNIError(code: .delegateFailed, msg: "IPAM plugin \"\(ipamType)\" returned no IP configuration")
        }
        // A gateway of the other family (an IPv6 gateway for an IPv4 address) would be set up
        // as an address of the wrong family on the bridge, or a route nowhere.
        let gateways =
            ipamResult.ips.map {
                (
                    $0.gateway, $0.address.family,
                    "gateway \($0.gateway.map(\.description) ?? "") for address \($0.address)"
                )
            }
            + ipamResult.routes.map {
                (
                    $0.gateway, $0.destination.family,
                    "route \($0.destination) via \($0.gateway.map(\.description) ?? "")"
                )
            }
        for case (let gateway?, let family, let what) in gateways where gateway.family != family {
            throw CNIError(
                code: .delegateFailed,
                msg: "IPAM plugin \"\(ipamType)\" returned \(what), which is of the other family")
        }
        var result = CNIResult(cniVersion: request.config.cniVersion)
        result.ips = ipamResult.ips.map {
            CNIResult.IPConfig(address: $0.address, gateway: $0.gateway, interface: interfaceIndex)
        }
        result.routes = ipamResult.routes
        result.dns = ipamResult.dns
        return result
    }
}
