import Addressing
import CNI
import CSystem
import DHCP
import JSON
import KernelErrors
import Namespaces
import Netlink
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

func formatSeconds(_ seconds: Double) -> String {
    guard seconds.isFinite, abs(seconds) < 1e15 else { return "\(seconds) s" }
    return seconds == seconds.rounded()
        ? "\(Int(seconds)) s" : "\(Int((seconds * 10).rounded()) / 10).\(Int((seconds * 10).rounded()) % 10) s"
}

/// Daemon log lines on stderr.
func log(_ text: String) {
    FileIO.writeAll(.standardError, "\(timestamp()) dhcp daemon: \(text)\n")
}

/// A wall-clock time (now by default) as RFC 3339 in UTC with milliseconds:
/// `2026-12-01T11:59:07.123Z`.
func timestamp(_ now: Double = WallClock.seconds) -> String {
    guard now.isFinite, abs(now) < 1e12 else { return "\(now)" }
    var seconds = time_t(now.rounded(.down))
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    let milliseconds = Int((now - now.rounded(.down)) * 1000)
    let fraction =
        milliseconds < 10 ? "00\(milliseconds)" : (milliseconds < 100 ? "0\(milliseconds)" : "\(milliseconds)")
    return
        "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
}
