import CNI
import System

/// An exclusive flock per bridge name (/run/swift-cni/bridge-<name>.lock) around changes to
/// what containers of one bridge share, such as a VLAN's gateway link. The directory must be
/// root's own (0700, not a symlink: see `Directory.createPrivate`) and the lock files are
/// opened without following symlinks, so nothing planted there is written or locked.
enum BridgeLock {
    static let directory = "/run/swift-cni"

    static func holding<T>(_ bridge: String, _ body: () throws -> T) throws -> T {
        let lock: FileLock
        do throws(SystemError) {
            try Directory.createPrivate(directory)
            lock = try FileLock("\(directory)/bridge-\(bridge).lock", mode: 0o600)
        } catch {
            throw CNIError(code: .kernelOperationFailed, msg: "cannot use the bridge lock: \(error)")
        }
        do {
            return try lock.withLock(body)
        } catch let error as SystemError {
            throw CNIError(code: .kernelOperationFailed, msg: "cannot use the bridge lock: \(error)")
        }
    }
}
