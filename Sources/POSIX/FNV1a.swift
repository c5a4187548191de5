/// FNV-1a, 64 bit: the short, stable hash behind the names we generate (firewall tags,
/// temporary link names, the dhcp daemon's state files). Stable across versions and machines,
/// which is what those names need; not a defence against deliberate collisions.
public enum FNV1a {
    public static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The last `digits` (1 to 16) of `value` in lowercase hex, zero-padded.
    public static func hex(_ value: UInt64, digits: Int = 16) -> String {
        let text = String(value, radix: 16)
        let padded = String(repeating: "0", count: max(0, 16 - text.count)) + text
        return String(padded.suffix(digits))
    }
}
