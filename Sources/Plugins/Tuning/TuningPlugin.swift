import Addressing
import CNI
import Namespaces
import Netlink
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// `tuning`: a chained plugin that changes the container interface's settings and the
/// container namespace's `net.*` sysctls (upstream v1.9's keys), saves the link settings it
/// changes in upstream's file format and puts them back on DEL. Without keys it passes the
/// previous result through.
public struct TuningPlugin: CNIPlugin {
    let allowlistPath: String

    public init(allowlistPath: String = "/etc/cni/tuning/allowlist.conf") { self.allowlistPath = allowlistPath }

    public var about: String { "swift-cni tuning: sysctls and link settings of the container's interface" }

    /// Every key is checked before anything is written; the link's settings are saved (once:
    /// a repeated ADD keeps the first originals), then sysctls and settings applied; a failure
    /// puts the saved settings back.
    public func add(_ request: CNIRequest) throws -> CNIResult {
        let config = try TuningConfig(request, allowlistPath: allowlistPath)
        guard var result = request.config.prevResult else {
            throw CNIError.invalidConfig("tuning must be called as a chained plugin: the config has no prevResult")
        }
        guard !config.sysctls.isEmpty || config.changesTheLink else { return result }
        let ifName = request.environment.ifName
        let namespace = try NetworkNamespace(path: request.environment.netns)
        let netlink = try RouteNetlink(in: namespace)
        guard let link = try netlink.link(named: ifName) else {
            throw CNIError(code: .invalidEnvironment, msg: "no interface \"\(ifName)\" in \(request.environment.netns)")
        }
        // Sysctls: a key must name a file under /proc/sys/net of the container, not a link.
        try namespace.run { () throws(CNIError) in
            for sysctl in config.sysctls {
                var info = stat()
                if lstat("/proc/sys/" + sysctl.key, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK {
                    throw .invalidConfig("\"sysctl\": \(sysctl.given) is a symbolic link; refusing it")
                }
            }
        }
        let backup = SavedLinkSettings.path(
            directory: config.dataDirectory, containerID: request.environment.containerID, ifName: ifName)
        var savedNow = false
        if config.changesTheLink && access(backup, F_OK) != 0 {
            try Self.save(Self.originals(of: link, for: config), to: backup, directory: config.dataDirectory)
            savedNow = true
        }
        do {
            try namespace.run { () throws(SysctlError) in
                for sysctl in config.sysctls { try Sysctl.write(sysctl.key, sysctl.value) }
            }
            if let mac = config.mac { try netlink.setLink(index: link.index, address: mac) }
            if config.promiscuous { try netlink.setLink(index: link.index, promiscuous: true) }
            if let mtu = config.mtu { try netlink.setLink(index: link.index, mtu: mtu) }
            if let all = config.allMulticast { try netlink.setLink(index: link.index, allMulticast: all) }
            if let length = config.transmitQueueLength {
                try netlink.setLink(index: link.index, transmitQueueLength: length)
            }
        } catch {
            if savedNow {
                _ = Self.restore(from: backup, netlink: netlink, ifName: ifName)
            }
            throw error
        }
        if let mac = config.mac {
            for index in result.interfaces.indices where ExactName.equal(result.interfaces[index].name, ifName) {
                result.interfaces[index].mac = mac.description
            }
        }
        return result
    }

    /// Puts back what the ADD saved (any implementation's file); gone namespace, link or file
    /// is success. What cannot be put back is said on stderr and the file kept, as upstream.
    public func delete(_ request: CNIRequest) throws {
        let config = try TuningConfig(request, allowlistPath: "/nonexistent")
        let ifName = request.environment.ifName
        let backup = SavedLinkSettings.path(
            directory: config.dataDirectory, containerID: request.environment.containerID, ifName: ifName)
        guard access(backup, F_OK) == 0, !request.environment.netns.isEmpty,
            let namespace = try? NetworkNamespace(path: request.environment.netns),
            let netlink = try? RouteNetlink(in: namespace)
        else { return }
        let failures = Self.restore(from: backup, netlink: netlink, ifName: ifName)
        if !failures.isEmpty {
            FileIO.writeAll(.standardError, "tuning: \(ifName): \(failures.joined(separator: "; "))\n")
        }
    }

    public func check(_ request: CNIRequest) throws {
        let config = try TuningConfig(request, allowlistPath: allowlistPath)
        guard request.config.prevResult != nil else {
            throw CNIError.invalidConfig("tuning CHECK needs the prevResult of the ADD")
        }
        let ifName = request.environment.ifName
        let namespace = try NetworkNamespace(path: request.environment.netns)
        func differs(_ what: String) -> CNIError {
            CNIError(code: .checkFailed, msg: "tuning: \(what)")
        }
        let current = try namespace.run { () throws(SysctlError) -> [String] in
            try config.sysctls.map { sysctl throws(SysctlError) in try Sysctl.read(sysctl.key) }
        }
        for (sysctl, value) in zip(config.sysctls, current) where value != sysctl.value {
            throw differs("sysctl \(sysctl.given) is \(value), configured \(sysctl.value)")
        }
        guard let link = try RouteNetlink(in: namespace).link(named: ifName) else {
            throw differs("cannot find container link \(ifName)")
        }
        if let mac = config.mac, link.address != mac {
            throw differs("\(ifName) has MAC \(link.address?.description ?? "none"), configured \(mac)")
        }
        if link.isPromiscuous != config.promiscuous {
            throw differs("\(ifName) promiscuous mode is \(link.isPromiscuous), configured \(config.promiscuous)")
        }
        if let mtu = config.mtu, link.mtu != mtu { throw differs("\(ifName) has MTU \(link.mtu), configured \(mtu)") }
        if let all = config.allMulticast, link.isAllMulticast != all {
            throw differs("\(ifName) all-multicast mode is \(link.isAllMulticast), configured \(all)")
        }
        if let length = config.transmitQueueLength, link.transmitQueueLength != length {
            throw differs("\(ifName) txqueuelen is \(link.transmitQueueLength ?? 0), configured \(length)")
        }
    }

    /// Nothing to collect: a saved file is removed by its attachment's DEL, and its name does
    /// not say which network it belongs to.
    public func garbageCollect(_ request: CNIRequest) throws {}

    public func status(_ request: CNIRequest) throws {}

    // MARK: Saving and restoring

    /// The link's current values of what `config` changes.
    static func originals(of link: Link, for config: TuningConfig) -> SavedLinkSettings {
        SavedLinkSettings(
            mac: config.mac != nil ? link.address : nil, promiscuous: config.promiscuous ? link.isPromiscuous : nil,
            mtu: config.mtu != nil ? link.mtu : nil,
            allMulticast: config.allMulticast != nil ? link.isAllMulticast : nil,
            transmitQueueLength: config.transmitQueueLength != nil ? link.transmitQueueLength : nil)
    }

    static func save(_ settings: SavedLinkSettings, to path: String, directory: String) throws {
        do {
            try Directory.create(directory, mode: 0o700)
            try AtomicFile.replace(path, with: Array(settings.json.utf8), mode: 0o600, sync: true)
        } catch {
            throw CNIError(
                code: .storeFailure, msg: "tuning: cannot save the link's settings to \(path)", details: "\(error)")
        }
    }

    /// Applies a saved file (MTU first, as upstream) and removes it when everything was put
    /// back; returns what failed. A missing link leaves nothing to do.
    static func restore(from path: String, netlink: RouteNetlink, ifName: String) -> [String] {
        guard let bytes = try? FileIO.readFile(path), let saved = SavedLinkSettings(json: bytes) else { return [] }
        guard let link = try? netlink.link(named: ifName) else { return [] }
        var failures: [String] = []
        func attempt(_ what: String, _ body: () throws(NetlinkError) -> Void) {
            do { try body() } catch { failures.append("cannot restore \(what): \(error)") }
        }
        if let mtu = saved.mtu {
            attempt("MTU") { () throws(NetlinkError) in try netlink.setLink(index: link.index, mtu: mtu) }
        }
        if let mac = saved.mac {
            attempt("MAC address") { () throws(NetlinkError) in try netlink.setLink(index: link.index, address: mac) }
        }
        if let flag = saved.promiscuous {
            attempt("promiscuous mode") { () throws(NetlinkError) in
                try netlink.setLink(index: link.index, promiscuous: flag)
            }
        }
        if let flag = saved.allMulticast {
            attempt("all-multicast mode") { () throws(NetlinkError) in
                try netlink.setLink(index: link.index, allMulticast: flag)
            }
        }
        if let length = saved.transmitQueueLength {
            attempt("transmit queue length") { () throws(NetlinkError) in
                try netlink.setLink(index: link.index, transmitQueueLength: length)
            }
        }
        if failures.isEmpty { unlink(path) }
        return failures
    }
}
