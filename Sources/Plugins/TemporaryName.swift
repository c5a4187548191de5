import POSIX

/// Names for links while they are created, before they are renamed or moved.
enum TemporaryName {
    /// Random: for host-side links whose every use is within one atomic request (a bridge's
    /// host veth end is created together with its container end), so two ADDs never collide.
    static func make(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return prefix + FNV1a.hex(generator.next(), digits: 8)
    }

    /// The name a sub-interface has in the container between its creation and its rename to
    /// CNI_IFNAME: the prefix and the last 8 hex digits of the attachment's FNV-1a hash (of
    /// "<containerID>\0<ifName>"), at most 15 bytes. An ADD killed in between leaves the link
    /// under this name, so the runtime's DEL (and the next ADD) can find and remove it.
    static func make(prefix: String, containerID: String, ifName: String) -> String {
        prefix + FNV1a.hex(FNV1a.hash(containerID.rawBytes + [0] + ifName.rawBytes), digits: 8)
    }
}
