import Addressing
import CNI
import DHCP
import JSON
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// The `dhcp` IPAM plugin: asks the lease daemon (`dhcp daemon`) over its unix socket.
///
/// `ipam`: `daemonSocketPath` (default /run/cni/dhcp.sock), `timeout` (seconds the ADD may
/// wait for a lease; default and maximum the daemon's -timeout), and the reference's
/// `request` ([{option, skipDefault}]: option names or codes to ask for; `skipDefault` asks
/// for those alone), `provide` ([{option, value | fromArg}]: options to send, e.g. a host name
/// from K8S_POD_NAME, or the client identifier), `priority` (the metric of the lease's routes)
/// and ours: `ipFamilies` (["IPv4"], the default; ["IPv6"]; ["IPv4", "IPv6"]: DHCPv4 and
/// DHCPv6 leased at once, a failure of either undoing both).
public struct DHCPPlugin: CNIPlugin {
    public init() {}
    public var about: String {
        "swift-cni dhcp IPAM: leases from the network's DHCP server, kept and renewed by 'dhcp daemon'"
    }

    static let defaultSocketPath = "/run/cni/dhcp.sock"

    struct Settings {
        var socketPath = DHCPPlugin.defaultSocketPath
        var parameters = LeaseParameters()
    }

    static func optionCode(_ text: String, path: String) throws(CNIError) -> UInt8 {
        if let code = DHCPOptionCode.code(named: text) { return code }
        if let number = Int(text), (1...254).contains(number) { return UInt8(number) }
        throw CNIError.invalidConfig(
            "\(path): unknown DHCP option \"\(text)\" (a name such as classless-static-routes, or a code 1-254)")
    }

    static func settings(_ request: CNIRequest) throws(CNIError) -> Settings {
        var settings = Settings()
        let ipam = ConfigReader(request.config.ipam ?? JSONObject(), path: "ipam")
        if let path = try ipam.string("daemonSocketPath"), !path.isEmpty { settings.socketPath = path }
        if let value = ipam.value("timeout") {
            guard let seconds = value.doubleValue, seconds > 0, seconds <= DaemonSettings.longestTimeout else {
                throw CNIError.invalidConfig(
                    "\"ipam.timeout\": expected a number of seconds above 0 and at most "
                        + "\(Int(DaemonSettings.longestTimeout)), found \(value.serialized().prefix(40))")
            }
            settings.parameters.timeout = seconds
        }
        let args = try request.cniArgs(knownKeys: ["IP", "MAC", "GATEWAY"])
        for entry in try ipam.objects("request") ?? [] {
            if try entry.bool("skipDefault") == true { settings.parameters.skipDefaultRequests = true }
            guard let option = try entry.string("option"), !option.isEmpty else { continue }
            settings.parameters.requestOptions.append(try optionCode(option, path: entry.path))
        }
        settings.parameters.priority = try ipam.uint32("priority")
        if let names = try ipam.strings("ipFamilies") {
            var families: [LeaseFamily] = []
            for name in names {
                guard let family = LeaseFamily(rawValue: name) else {
                    throw CNIError.invalidConfig(
                        "\"ipam.ipFamilies\": unknown family \"\(name.prefix(40))\" (expected \"IPv4\" and/or \"IPv6\")"
                    )
                }
                if !families.contains(family) { families.append(family) }
            }
            guard !families.isEmpty else {
                throw CNIError.invalidConfig("\"ipam.ipFamilies\" is empty: name \"IPv4\", \"IPv6\" or both")
            }
            settings.parameters.families = families
        }
        for entry in try ipam.objects("provide") ?? [] {
            guard let option = try entry.string("option") else { continue }
            let code = try optionCode(option, path: entry.path)
            var value = try entry.string("value")
            if let argument = try entry.string("fromArg"), let fromArgs = args[argument], !fromArgs.isEmpty {
                value = fromArgs
            }
            guard let value, !value.isEmpty else { continue }
            guard value.utf8.count <= 255 else {
                throw CNIError.invalidConfig(
                    "\(entry.path): value too long for option \"\(option)\" (\(value.utf8.count) bytes, at most 255)")
            }
            if code == DHCPOptionCode.hostName {
                settings.parameters.hostName = value
            } else {
                settings.parameters.provideOptions.append((code, Array(value.utf8)))
            }
        }
        if settings.parameters.hostName == nil {
            let podName = args["K8S_POD_NAME"] ?? ""
            let name = podName.isEmpty ? request.environment.containerID : podName
            settings.parameters.hostName = name.isEmpty ? nil : String(name.prefix(63))
        }
        return settings
    }

    func daemonRequest(_ command: DaemonRequest.Command, _ request: CNIRequest, _ settings: Settings) -> DaemonRequest {
        var daemon = DaemonRequest(command: command)
        daemon.containerID = request.environment.containerID
        daemon.network = request.config.name
        daemon.ifName = request.environment.ifName
        daemon.netns = request.environment.netns
        daemon.parameters = settings.parameters
        return daemon
    }

    /// Sends one request and waits for the reply; a daemon that cannot be reached is an
    /// error that says how to start it (code 11: it may help to retry once it runs).
    func call(_ daemon: DaemonRequest, _ settings: Settings, wait: Double) throws -> JSONValue {
        let fd: FileDescriptor
        do {
            fd = try UnixSocket.connect(settings.socketPath, timeout: 2)
        } catch {
            throw CNIError(
                code: .tryAgainLater,
                msg: "cannot reach the dhcp daemon at \(settings.socketPath): \(SystemError.message(for: error.errno))",
                details:
                    "start it with \"dhcp daemon -socketpath \(settings.socketPath)\" (or enable swift-cni-dhcp.socket with systemd)"
            )
        }
        defer { fd.closeIgnoringErrors() }
        FileIO.writeAll(fd, daemon.json.serialized() + "\n")
        guard let line = UnixSocket.readLine(fd, timeout: wait) else {
            throw CNIError(
                code: .tryAgainLater,
                msg: "the dhcp daemon at \(settings.socketPath) did not answer within \(formatSeconds(wait))")
        }
        if line.hasPrefix("HTTP/") {
            // The reference's daemon serves Go net/rpc over HTTP on the same default path.
            throw CNIError(
                code: .tryAgainLater,
                msg:
                    "\(settings.socketPath) is served by the reference plugins' dhcp daemon (it answered HTTP), which swift-cni's dhcp plugin cannot use",
                details:
                    "switch the daemon with the plugin: stop the reference's (systemctl disable --now cni-dhcp.socket cni-dhcp.service) and start ours (systemctl enable --now swift-cni-dhcp.socket, or \"dhcp daemon\"); see docs/upgrading.md"
            )
        }
        guard let reply = try? JSONValue.parse(line) else {
            throw CNIError(
                code: .decodingFailure,
                msg: "the dhcp daemon at \(settings.socketPath) answered with something that is not JSON",
                details: String(line.prefix(200)))
        }
        guard reply["ok"]?.boolValue == true else {
            throw CNIError(
                rawCode: reply["code"]?.intValue ?? CNIError.Code.internalError.rawValue,
                msg: reply["msg"]?.stringValue ?? "the dhcp daemon refused the request",
                details: reply["details"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 })
        }
        return reply
    }

    public func add(_ request: CNIRequest) throws -> CNIResult {
        let settings = try Self.settings(request)
        let reply = try call(
            daemonRequest(.add, request, settings), settings, wait: (settings.parameters.timeout ?? 60) + 5)
        guard reply["lease"] != nil || reply["lease6"] != nil else {
            throw CNIError(code: .decodingFailure, msg: "the dhcp daemon sent no lease")
        }
        var result = LeaseCoding.result(
            try reply["lease"].map { (value) throws(CNIError) in try LeaseCoding.lease(value) },
            try reply["lease6"].map { (value) throws(CNIError) in try LeaseCoding.lease6(value) },
            cniVersion: request.config.cniVersion)
        if let priority = settings.parameters.priority {
            for index in result.routes.indices { result.routes[index].priority = priority }
        }
        return result
    }

    /// Releases the lease. Succeeds when the daemon no longer knows it, when the netns is gone,
    /// and when the daemon cannot be reached (a lease it no longer renews expires on its own,
    /// and a restarted daemon drops leases whose netns is gone): a DEL must not block a pod.
    public func delete(_ request: CNIRequest) throws {
        let settings = try Self.settings(request)
        do {
            _ = try call(daemonRequest(.del, request, settings), settings, wait: 10)
        } catch let error as CNIError where error.code == CNIError.Code.tryAgainLater.rawValue {
            FileIO.writeAll(
                .standardError,
                "dhcp: DEL of \(request.environment.containerID)/\(request.environment.ifName): \(error.msg); the lease will expire on its own\n"
            )
        }
    }

    /// The daemon holds a lease for the attachment, and its address is the one in prevResult.
    public func check(_ request: CNIRequest) throws {
        let settings = try Self.settings(request)
        let reply = try call(daemonRequest(.check, request, settings), settings, wait: 10)
        var addresses: [IPPrefix] = []
        if let value = reply["lease"] { addresses.append(try LeaseCoding.lease(value).address) }
        if let value = reply["lease6"],
            let prefix = IPPrefix(address: try LeaseCoding.lease6(value).lease.address, prefixLength: 128)
        {
            addresses.append(prefix)
        }
        guard !addresses.isEmpty else { throw CNIError(code: .checkFailed, msg: "the dhcp daemon holds no lease") }
        if let previous = request.config.prevResult {
            for address in addresses where !previous.ips.contains(where: { $0.address == address }) {
                throw CNIError(code: .checkFailed, msg: "the lease is for \(address), which is not in prevResult")
            }
        }
    }

    public func garbageCollect(_ request: CNIRequest) throws {
        let settings = try Self.settings(request)
        var daemon = daemonRequest(.gc, request, settings)
        daemon.validAttachments = try request.config.validAttachments()
        _ = try call(daemon, settings, wait: 30)
    }

    /// Code 50 when the daemon cannot be reached.
    public func status(_ request: CNIRequest) throws {
        let settings = try Self.settings(request)
        do {
            _ = try call(daemonRequest(.status, request, settings), settings, wait: 5)
        } catch let error as CNIError {
            throw CNIError(code: .pluginNotAvailable, msg: error.msg, details: error.details)
        }
    }
}
