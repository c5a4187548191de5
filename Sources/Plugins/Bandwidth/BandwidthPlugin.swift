import Addressing
import CNI
import Firewall
import Namespaces
import Netlink
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// `bandwidth`: shapes a container's traffic on the host end of its veth (upstream v1.9's
/// plugins/meta/bandwidth): ingress (traffic into the container) by a TBF root qdisc on the host
/// veth; egress by redirecting the host veth's ingress to an ifb device `bwp<hash>` shaped by a
/// TBF. All through rtnetlink tc messages, no `tc`. Zero rates are a passthrough.
public struct BandwidthPlugin: CNIPlugin {
    let host: any TrafficControlHost
    public init(host: any TrafficControlHost = SystemHost()) { self.host = host }
    public var about: String { "swift-cni bandwidth: rate limits on the container's veth (TBF, ifb)" }

    /// Rates in bits per second, bursts in bits, as upstream (and Kubernetes' annotations).
    struct Limits: Equatable {
        var ingressRate: UInt64 = 0
        var ingressBurst: UInt64 = 0
        var egressRate: UInt64 = 0
        var egressBurst: UInt64 = 0
        var isZero: Bool { ingressRate == 0 && ingressBurst == 0 && egressRate == 0 && egressBurst == 0 }

        static let keys = ["ingressRate", "ingressBurst", "egressRate", "egressBurst"]

        /// The top-level keys when any is there (upstream's embedded BandwidthEntry), else
        /// `runtimeConfig.bandwidth`; a rate needs its burst and the reverse; a burst below 32 Gbit.
        init(_ config: NetworkConfig) throws(CNIError) {
            let top = config.reader
            let source: ConfigReader?
            if Self.keys.contains(where: { top.value($0) != nil }) {
                source = top
            } else {
                source = try ConfigReader(config.runtimeConfig, path: "runtimeConfig", foldsCase: true).object(
                    "bandwidth")
            }
            guard let source else { return }
            let most = UInt64(Int64.max)
            ingressRate = try source.integer("ingressRate", in: 0...most) ?? 0
            ingressBurst = try source.integer("ingressBurst", in: 0...most) ?? 0
            egressRate = try source.integer("egressRate", in: 0...most) ?? 0
            egressBurst = try source.integer("egressBurst", in: 0...most) ?? 0
            for (rate, burst, which) in [(ingressRate, ingressBurst, "ingress"), (egressRate, egressBurst, "egress")] {
                if (rate == 0) != (burst == 0) {
                    throw .invalidConfig(
                        "\(which)Rate and \(which)Burst go together: if one is set, the other must be too")
                }
                if burst / 8 >= UInt64(UInt32.max) { throw .invalidConfig("\(which)Burst cannot be more than 4GB") }
            }
        }
    }

    /// `bwp` and SHA-512 hex of network + container id, 15 characters (upstream's ifb name).
    static func ifbName(network: String, containerID: String) -> String {
        "bwp" + String(SHA512.hex(network + containerID).prefix(12))
    }

    /// The TBF's limit and buffer for a rate and burst, computed as upstream computes them
    /// (25 ms of latency; the buffer in the kernel's scheduler ticks from /proc/net/psched).
    static func tokenBucket(rateBits: UInt64, burstBits: UInt64) -> (rate: UInt64, limit: UInt32, buffer: UInt32) {
        let rate = rateBits / 8
        let burst = UInt32(truncatingIfNeeded: burstBits / 8)
        let microseconds = 1_000_000.0
        let tick = tickInMicroseconds()
        let bufferTime = UInt32(clamping: UInt64(Double(burst) * microseconds / Double(max(rate, 1))))
        let buffer = UInt32(clamping: UInt64(Double(bufferTime) * tick))
        let latency = microseconds * 25 / 1000
        let limit = UInt32(clamping: UInt64(Double(rate) * latency / microseconds)) &+ burst
        return (rate, limit, buffer)
    }

    /// t2us / us2t × clock factor from /proc/net/psched (15.625 on Linux's 64 ns ticks).
    static func tickInMicroseconds() -> Double {
        guard let bytes = try? FileIO.readFile("/proc/net/psched") else { return 15.625 }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: " ").map {
            UInt64($0.trimmingWhitespace, radix: 16) ?? 0
        }
        guard parts.count >= 3, parts[1] != 0 else { return 15.625 }
        var resolution = Double(parts[2])
        if parts[2] == 1_000_000_000 { resolution = 1_000_000 }
        return Double(parts[0]) / Double(parts[1]) * (resolution / 1_000_000)
    }

    /// The host end of the container's veth, which prevResult must list (without a sandbox).
    func hostEnd(_ request: CNIRequest, _ result: CNIResult, _ hostNetlink: any TrafficShaping) throws -> Link {
        let containerNetlink = try host.openNamespace(request.environment.netns).netlink()
        guard let inside = try containerNetlink.link(named: request.environment.ifName), inside.kind == "veth",
            let peerIndex = inside.parentIndex, let peer = try hostNetlink.link(index: peerIndex)
        else {
            throw CNIError(
                code: .invalidEnvironment,
                msg: "container interface \(request.environment.ifName) has no veth peer in the host namespace")
        }
        guard result.interfaces.contains(where: { ($0.sandbox ?? "").isEmpty && ExactName.equal($0.name, peer.name) })
        else {
            throw CNIError(code: .invalidConfig, msg: "no veth peer of the container interface in the previous result")
        }
        return peer
    }

    public func add(_ request: CNIRequest) throws -> CNIResult {
        let limits = try Limits(request.config)
        guard var result = request.config.prevResult else {
            if limits.isZero {
                return CNIResult(cniVersion: request.config.cniVersion)
            }
            throw CNIError.invalidConfig("bandwidth must be called as a chained plugin: the config has no prevResult")
        }
        guard !limits.isZero else { return result }
        let netlink = try host.hostTrafficShaping()
        let hostVeth = try hostEnd(request, result, netlink)
        let ifb = Self.ifbName(network: request.config.name, containerID: request.environment.containerID)
        do {
            if limits.ingressRate > 0 {
                let bucket = Self.tokenBucket(rateBits: limits.ingressRate, burstBits: limits.ingressBurst)
                try netlink.addTokenBucket(
                    index: hostVeth.index, rate: bucket.rate, limit: bucket.limit, buffer: bucket.buffer)
            }
            if limits.egressRate > 0 {
                try netlink.createLink(
                    LinkRequest(name: ifb, kind: .ifb, mtu: hostVeth.mtu, transmitQueueLength: 0))
                guard let device = try netlink.link(named: ifb) else {
                    throw CNIError(code: .kernelOperationFailed, msg: "ifb \(ifb) vanished after creation")
                }
                try netlink.setLink(index: device.index, up: true)
                try netlink.addIngressQdisc(index: hostVeth.index)
                try netlink.addRedirectFilter(index: hostVeth.index, to: device.index)
                let bucket = Self.tokenBucket(rateBits: limits.egressRate, burstBits: limits.egressBurst)
                try netlink.addTokenBucket(
                    index: device.index, rate: bucket.rate, limit: bucket.limit, buffer: bucket.buffer)
                result.interfaces.append(CNIResult.Interface(name: ifb, mac: device.address?.description))
            }
        } catch {
            // Nothing half-made stays: the ifb and the host veth's qdiscs go.
            if let device = try? netlink.link(named: ifb) { try? netlink.deleteLink(index: device.index) }
            try? netlink.deleteQdisc(index: hostVeth.index, ingress: false)
            try? netlink.deleteQdisc(index: hostVeth.index, ingress: true)
            throw error
        }
        return result
    }

    /// DEL removes the ifb (the host veth's qdiscs go with the veth); none there is fine. It
    /// returns once the ifb is out of the host namespace, not once the kernel has released it
    /// (`deleteLinkWithoutWaitingForRelease`).
    public func delete(_ request: CNIRequest) throws {
        _ = try Limits(request.config)
        let netlink = try host.hostTrafficShaping()
        let ifb = Self.ifbName(network: request.config.name, containerID: request.environment.containerID)
        guard let device = try netlink.link(named: ifb) else { return }
        do {
            try netlink.deleteLinkWithoutWaitingForRelease(index: device.index)
        } catch {
            guard error.errno == ENODEV else { throw error }  // not `catch where`: see SystemHost
        }
    }

    /// CHECK: the TBFs upstream would have made, with the same rate, limit and buffer.
    public func check(_ request: CNIRequest) throws {
        let limits = try Limits(request.config)
        guard let result = request.config.prevResult else {
            throw CNIError.invalidConfig("bandwidth CHECK needs the prevResult of the ADD")
        }
        guard !limits.isZero else { return }
        let netlink = try host.hostTrafficShaping()
        let hostVeth = try hostEnd(request, result, netlink)
        func expect(_ index: Int32, _ rateBits: UInt64, _ burstBits: UInt64, _ what: String) throws {
            let bucket = Self.tokenBucket(rateBits: rateBits, burstBits: burstBits)
            let found = try netlink.qdiscs(index: index).first { $0.kind == "tbf" }
            guard let found, found.rate == UInt32(truncatingIfNeeded: min(bucket.rate, UInt64(UInt32.max))),
                found.limit == bucket.limit, found.buffer == bucket.buffer
            else {
                throw CNIError(
                    code: .checkFailed,
                    msg:
                        "\(what): no tbf qdisc with rate \(bucket.rate) B/s, limit \(bucket.limit), buffer \(bucket.buffer)"
                )
            }
        }
        if limits.ingressRate > 0 { try expect(hostVeth.index, limits.ingressRate, limits.ingressBurst, "ingress") }
        if limits.egressRate > 0 {
            let ifb = Self.ifbName(network: request.config.name, containerID: request.environment.containerID)
            guard let device = try netlink.link(named: ifb) else {
                throw CNIError(code: .checkFailed, msg: "egress: ifb \(ifb) is missing")
            }
            try expect(device.index, limits.egressRate, limits.egressBurst, "egress")
        }
    }

    public func garbageCollect(_ request: CNIRequest) throws {}
    public func status(_ request: CNIRequest) throws {}
}
