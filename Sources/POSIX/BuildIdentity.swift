import CSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Whether an executable is this build of swift-cni.
public enum BuildIdentity {
    /// Same file as /proc/self/exe (device and inode, symlinks followed), or an ELF file whose
    /// "swift-cni" note names the same build as ours.
    public static func isOurs(_ path: String) -> Bool {
        var candidate = stat()
        var own = stat()
        guard stat(path, &candidate) == 0 else { return false }
        if stat("/proc/self/exe", &own) == 0, own.st_dev == candidate.st_dev, own.st_ino == candidate.st_ino {
            return true
        }
        var buffer = [CChar](repeating: 0, count: 256)
        let length = csystem_file_build_identity(path, &buffer, buffer.count)
        guard length > 0 else { return false }
        return strcmp(buffer, csystem_build_identity()) == 0
    }
}
