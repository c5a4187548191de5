#if canImport(Glibc)
    import Glibc
#endif

/// The running program's own file (/proc/self/exe).
public enum CurrentExecutable {
    /// The absolute path, nil when /proc is not mounted.
    public static var path: String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The directory it is in.
    public static var directory: String? {
        path.flatMap { path in path.lastIndex(of: "/").map { String(path[..<$0]) } }
    }
}
