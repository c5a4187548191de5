import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// Daemon settings (the reference's flags, and ours).
struct DaemonSettings: Sendable {
    /// The longest wait any timeout may ask for (a day): every duration from a flag or a
    /// request is checked against it, so none overflows a poll(2) or timespec conversion.
    static let longestTimeout: Double = longestPollWait
    /// Requests served at once (a thread each); more are answered with code 11.
    var maximumWorkers = 64
    /// `-resendtimeout`: how long one renewal or rebinding exchange may go on before it waits
    /// for the lease's next timer (the reference's bound on its retries).
    var resendTimeout: Double = 5
    /// `-broadcast`: ask servers for broadcast replies on every interface (off, as the reference).
    var broadcast = false

    var socketPath = "/run/cni/dhcp.sock"
    /// Where the socket is made: `-hostprefix` + `-socketpath`, as the reference does, so a
    /// daemon in a container with the host's / at the prefix serves the plugins' default path.
    var listenPath: String { hostPrefix + socketPath }
    var pidFile: String?
    /// Seconds an ADD may wait for a lease.
    var acquireTimeout: Double = 10
    /// Longest pause between retransmissions.
    var resendMaximum: Double = 62
    var hostPrefix = ""
    var stateDirectory = "/var/lib/cni/swift-dhcp"
    /// `-socketgroup GID`: besides root, processes of this group may use the socket (it is then
    /// made 0660 and given to the group); nil: root alone.
    var socketGroup: gid_t?
}
