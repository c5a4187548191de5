import CSystem

#if canImport(Glibc)
    import Glibc
#endif

/// CLOCK_MONOTONIC: time that only moves forward, for timeouts and measurements.
public enum MonotonicClock {
    public static var nanoseconds: UInt64 { csystem_monotonic_ns() }
    public static var seconds: Double { Double(csystem_monotonic_ns()) / 1e9 }
}

/// CLOCK_REALTIME in seconds since the epoch, for times kept on disk across restarts.
public enum WallClock {
    public static var seconds: Double {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
