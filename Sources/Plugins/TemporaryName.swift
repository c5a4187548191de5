/// Names for links while they are created, before they are renamed or moved.
enum TemporaryName {
    /// Random: for host-side links whose every use is within one atomic request (a bridge's
    /// host veth end is created together with its container end), so two ADDs never collide.
    static func make(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return prefix + hex(generator.next() as UInt32)
    }

    /// The name a sub-interface has in the container between its creation and its rename to
    /// CNI_IFNAME: the prefix and 8 hex digits of a hash of the attachment (FNV-1a of
    /// "<containerID>\0<ifName>"), at most 15 bytes. An ADD killed in between leaves the link
    /// under this name, so the runtime's DEL (and the next ADD) can find and remove it.
    static func make(prefix: String, containerID: String, ifName: String) -> String {
        var hash: UInt32 = 0x811c_9dc5
        for byte in Array(containerID.utf8) + [0] + Array(ifName.utf8) {
            hash = (hash ^ UInt32(byte)) &* 0x0100_0193
        }
        return prefix + hex(hash)
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}
