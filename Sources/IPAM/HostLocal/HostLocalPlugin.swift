import Addressing
import CNI
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// The `host-local` executable's plugin: addresses from ranges, reserved in files under
/// `<dataDir>/<network>/`, drop-in compatible with the reference's store.
public struct HostLocalPlugin: CNIPlugin {
    public init() {}
    public var about: String { "swift-cni host-local IPAM: addresses from ranges, reservations on the local disk" }

    public func add(_ request: CNIRequest) throws -> CNIResult {
        let config = try HostLocalConfig(request: request)
        let dns = try config.resolvConf.map { path throws(CNIError) in try ResolvConf.load(path) } ?? DNS()
        let allocator = try HostLocalAllocator(config: config)
        let ips = try allocator.allocate(
            containerID: request.environment.containerID, ifName: request.environment.ifName)
        return CNIResult(cniVersion: request.config.cniVersion, ips: ips, routes: config.routes, dns: dns)
    }

    /// Releases by container id and interface, in every range set; idempotent, and fine for
    /// an attachment never seen.
    public func delete(_ request: CNIRequest) throws {
        let config = try HostLocalConfig(request: request)
        try HostLocalAllocator(config: config)
            .release(containerID: request.environment.containerID, ifName: request.environment.ifName)
    }

    /// The attachment holds an address in each range set (code 103 otherwise).
    public func check(_ request: CNIRequest) throws {
        let config = try HostLocalConfig(request: request)
        let env = request.environment
        let held = try HostLocalAllocator(config: config).addresses(containerID: env.containerID, ifName: env.ifName)
        guard !held.isEmpty else {
            throw CNIError(
                code: .checkFailed, msg: "host-local: failed to find address added by container \(env.containerID)")
        }
        for (index, set) in config.rangeSets.enumerated()
        where !held.contains(where: { set.range(containing: $0) != nil }) {
            throw CNIError(
                code: .checkFailed,
                msg: "host-local: container \(env.containerID) holds no address in range set \(index) (\(set))")
        }
    }

    /// Releases every reservation of this network whose attachment is not in
    /// `cni.dev/valid-attachments`.
    public func garbageCollect(_ request: CNIRequest) throws {
        let config = try HostLocalConfig(request: request)
        try HostLocalAllocator(config: config).collectGarbage(valid: Set(try request.config.validAttachments()))
    }

    /// Code 50 when the data directory cannot be created, locked or written.
    public func status(_ request: CNIRequest) throws {
        let config = try HostLocalConfig(request: request)
        do {
            let store = try ReservationStore(dataDirectory: config.dataDirectory, network: config.networkName)
            try store.withLock {
                do throws(SystemError) {
                    try SystemError.check(access(store.directory, W_OK), "write to", store.directory)
                } catch {
                    throw StoreError(error)
                }
            }
        } catch {
            throw CNIError(
                code: .pluginNotAvailable, msg: "host-local data directory is not usable",
                details: String(describing: error))
        }
    }
}
