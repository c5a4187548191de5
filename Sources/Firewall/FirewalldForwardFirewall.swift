import Addressing
import DBus

/// The firewall plugin's firewalld backend, as upstream's (plugins/meta/firewall/firewalld.go):
/// each container address (`A/32`, `A/128`) becomes a source of a firewalld zone
/// (`firewalldZone`, default `trusted`) through firewalld's D-Bus API on the system bus, in
/// its runtime configuration (a firewalld restart drops it, as upstream's). Ingress policies
/// stay iptables rules, as upstream's.
public struct FirewalldForwardFirewall: ForwardFirewall {
    public static let busName = "org.fedoraproject.FirewallD1"
    static let objectPath = "/org/fedoraproject/FirewallD1"
    static let zoneInterface = "org.fedoraproject.FirewallD1.zone"

    public let zone: String
    /// The ingress policies' chains (upstream writes them with iptables whatever the backend).
    let ingress: IptablesForwardFirewall
    /// How long one D-Bus exchange may take (firewalld answers in milliseconds, but it may be
    /// busy reloading).
    let timeout: Double

    public init(zone: String = "trusted", adminChain: String = "CNI-ADMIN", timeout: Double = 10) {
        self.zone = zone
        ingress = IptablesForwardFirewall(adminChain: adminChain)
        self.timeout = timeout
    }

    public var name: String { "firewalld" }

    /// firewalld owns its name on the system bus (`GetNameOwner` answers): upstream's test for
    /// choosing this backend when a config names none. False without a system bus.
    public static func isRunning(timeout: Double = 2) -> Bool { (try? requireAnswer(timeout: timeout)) != nil }

    /// Connects to the system bus and asks who owns firewalld's name (`GetNameOwner`); throws
    /// when there is no bus or nobody owns it (NameHasNoOwner).
    static func requireAnswer(timeout: Double) throws(DBusError) {
        let bus = try DBusConnection.systemBus(timeout: timeout)
        _ = try bus.call(
            destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
            member: "GetNameOwner", arguments: [.string(busName)])
    }

    public func unusableReason() -> String? {
        do {
            try Self.requireAnswer(timeout: timeout)
            return nil
        } catch {
            return "firewalld does not answer on the system bus: \(error)"
        }
    }

    /// The source firewalld knows an address by.
    static func source(_ address: IPAddress) -> String { "\(address)/\(address.family.bitWidth)" }

    /// The code firewalld puts first in an exception's message (`ZONE_ALREADY_SET: ...`).
    static func firewalldCode(_ error: DBusError) -> Substring? {
        guard case .remote(let name, let message) = error, name.hasPrefix(busName) else { return nil }
        return message.prefix { $0 != ":" }
    }

    @discardableResult
    private func zoneCall(_ bus: DBusConnection, _ member: String, _ address: IPAddress) throws(DBusError)
        -> [DBusValue]
    {
        try bus.call(
            destination: Self.busName, path: Self.objectPath, interface: Self.zoneInterface, member: member,
            arguments: [.string(zone), .string(Self.source(address))])
    }

    private func failure(_ operation: String, _ error: DBusError) -> FirewallError {
        FirewallError(tool: "firewalld", operation: operation, output: error.description)
    }

    private func connect(_ operation: String) throws(FirewallError) -> DBusConnection {
        do {
            return try DBusConnection.systemBus(timeout: timeout)
        } catch {
            throw failure(operation, error)
        }
    }

    /// `addSource(zone, A/n)` per address; a source already in the zone (ZONE_ALREADY_SET) is
    /// fine. A source bound to another zone is firewalld's ZONE_CONFLICT, and an error here.
    public func allow(_ addresses: [IPAddress], containerID: String) throws(FirewallError) {
        guard !addresses.isEmpty else { return }
        let bus = try connect("add sources to zone \(zone)")
        for address in addresses {
            do {
                try zoneCall(bus, "addSource", address)
            } catch {
                guard Self.firewalldCode(error) == "ZONE_ALREADY_SET" else {
                    throw failure("add source \(Self.source(address)) to zone \(zone)", error)
                }
            }
        }
    }

    /// `removeSource(zone, A/n)` per address. What is gone already is fine: no firewalld (its
    /// runtime sources went with it), an unknown source or zone.
    public func revoke(_ addresses: [IPAddress], containerID: String) throws(FirewallError) {
        guard !addresses.isEmpty else { return }
        let bus: DBusConnection
        do {
            bus = try DBusConnection.systemBus(timeout: timeout)
        } catch {
            return
        }
        for address in addresses {
            do {
                try zoneCall(bus, "removeSource", address)
            } catch {
                if case .remote(let name, _) = error,
                    name == "org.freedesktop.DBus.Error.ServiceUnknown"
                        || name == "org.freedesktop.DBus.Error.NameHasNoOwner"
                {
                    return
                }
                let code = Self.firewalldCode(error)
                guard code == "UNKNOWN_SOURCE" || code == "INVALID_ZONE" else {
                    throw failure("remove source \(Self.source(address)) from zone \(zone)", error)
                }
            }
        }
    }

    /// `querySource(zone, A/n)` per address: each must be a source of the zone (upstream only
    /// checks that firewalld answers).
    public func check(_ addresses: [IPAddress], containerID: String) throws(FirewallError) {
        guard !addresses.isEmpty else { return }
        let bus = try connect("query the sources of zone \(zone)")
        for address in addresses {
            let reply: [DBusValue]
            do {
                reply = try zoneCall(bus, "querySource", address)
            } catch {
                throw failure("query source \(Self.source(address)) in zone \(zone)", error)
            }
            guard reply.first?.booleanValue == true else {
                throw FirewallError(
                    tool: "firewalld", operation: "check",
                    output: "\(Self.source(address)) is not a source of zone \(zone)")
            }
        }
    }

    public func isolate(bridge: String, isolated: Bool, families: Set<IPAddress.Family>) throws(FirewallError) {
        try ingress.isolate(bridge: bridge, isolated: isolated, families: families)
    }
}
