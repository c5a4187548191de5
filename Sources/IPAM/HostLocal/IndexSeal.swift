import Addressing
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// The seal: the proof that nobody but this store's sealed sessions changed the network
/// directory since the index was last known to be exact (see `StoreSession` for the invariant).
///
/// After a session that leaves the index exact, the store *seals* it: the network directory's
/// mtime is set to one nanosecond before what the kernel last wrote there (L), and the index
/// directory's mtime to the directory's plus the layout version in nanoseconds (layout 3:
/// L + 2 ns). Any later change of the network directory by anyone — the reference's ADD, DEL or
/// GC, an older swift-cni, one of our sessions killed half-way — sets its mtime to the current
/// time, which is at or after L (in the same clock tick, L itself), never L - 1 ns; any change
/// of the index directory (a bucket replaced) sets the index's mtime to the current time. So
/// "index mtime = directory mtime + 3 ns" holds exactly while nobody else has changed either
/// since the seal, and a seal of another layout never passes for this one. Every writer holds
/// the store's lock (the reference's too), and the check and the seal are made under it. On a
/// filesystem that keeps no nanoseconds the relation never holds, and every session reads the
/// whole store, as the reference does.
extension ReservationStore {
    /// The seal holds: nothing but this store's sealed sessions changed the network directory
    /// or the index since the last seal (see above), so the index is exact.
    public var indexIsComplete: Bool {
        var directoryStatus = stat()
        var indexStatus = stat()
        guard fstat(directoryFD, &directoryStatus) == 0,
            fstatat(AT_FDCWD, indexDirectory, &indexStatus, AT_SYMLINK_NOFOLLOW) == 0,
            indexStatus.st_mode & S_IFMT == S_IFDIR
        else { return false }
        return Self.sealHolds(directory: directoryStatus.st_mtim, index: indexStatus.st_mtim)
    }

    /// The two modification times a seal sets, given the kernel's time of the directory's last
    /// change: the directory one nanosecond before it, the index the layout's version in
    /// nanoseconds after the directory (layout 3: two nanoseconds after the last change).
    static func sealTimes(lastChange: timespec) -> (directory: timespec, index: timespec) {
        let directory = nanosecondBefore(lastChange)
        return (directory, nanoseconds(AttachmentIndex.layout, after: directory))
    }

    /// The directory's and the index's times are this layout's seal: index = directory +
    /// layout ns. A change by anyone after the seal gives the directory a time at or after the
    /// sealed last change (the same value in the same clock tick), so the relation no longer
    /// holds; neither does another layout's seal.
    static func sealHolds(directory: timespec, index: timespec) -> Bool {
        let expected = nanoseconds(AttachmentIndex.layout, after: directory)
        return expected.tv_sec == index.tv_sec && expected.tv_nsec == index.tv_nsec
    }

    /// `count` (0 to 1e9) nanoseconds after `time`, without overflow on any value.
    static func nanoseconds(_ count: Int, after time: timespec) -> timespec {
        var result = time
        for _ in 0..<count { result = nanosecondAfter(result) }
        return result
    }

    /// Seals the index as exact for the directory as it is now (call under the lock, after the
    /// index has been brought up to date). Failing to seal only costs the next session a full
    /// read.
    func sealIndex() {
        guard let indexFD = indexDirectory(create: true)?.rawValue else { return }
        var status = stat()
        guard fstat(directoryFD, &status) == 0 else { return }
        let sealed = Self.sealTimes(lastChange: status.st_mtim)
        // UTIME_OMIT from <sys/stat.h> ((1 << 30) - 2; a macro Swift does not import): the
        // access time stays as it is.
        let omit = timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2)
        var directoryTimes = [omit, sealed.directory]
        guard futimens(directoryFD, &directoryTimes) == 0 else { return }
        var indexTimes = [omit, sealed.index]
        _ = futimens(indexFD, &indexTimes)
    }

    /// One nanosecond later / earlier, without overflow on any value a filesystem may hold.
    static func nanosecondAfter(_ time: timespec) -> timespec {
        time.tv_nsec >= 999_999_999
            ? timespec(tv_sec: time.tv_sec &+ 1, tv_nsec: 0) : timespec(tv_sec: time.tv_sec, tv_nsec: time.tv_nsec + 1)
    }

    static func nanosecondBefore(_ time: timespec) -> timespec {
        time.tv_nsec <= 0
            ? timespec(tv_sec: time.tv_sec &- 1, tv_nsec: 999_999_999)
            : timespec(tv_sec: time.tv_sec, tv_nsec: time.tv_nsec - 1)
    }
}
