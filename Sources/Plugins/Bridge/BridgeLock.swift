import CNI
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive flock per bridge name (/run/swift-cni/bridge-<name>.lock) around changes to
/// what containers of one bridge share, such as a VLAN's gateway link.
enum BridgeLock {
    static let directory = "/run/swift-cni"

    static func holding<T>(_ bridge: String, _ body: () throws -> T) throws -> T {
        _ = mkdir(directory, 0o755)
        let path = "\(directory)/bridge-\(bridge).lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CNIError(code: .kernelOperationFailed, msg: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw CNIError(code: .kernelOperationFailed, msg: "cannot lock \(path): \(String(cString: strerror(errno)))") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}
