/// An exclusive flock per bridge name (/run/swift-cni/bridge-<name>.lock) around changes to
/// what containers of one bridge share, such as a VLAN's gateway link.
enum BridgeLock {
    static func holding<T>(_ bridge: String, _ body: () throws -> T) throws -> T {
        try RuntimeLock.holding("bridge-\(bridge).lock", what: "bridge lock", body)
    }
}
