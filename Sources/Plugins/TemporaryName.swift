/// Names for a link while it is created and before it is renamed to CNI_IFNAME: random, so
/// two ADDs at once never collide.
enum TemporaryName {
    static func make(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let suffix = String(generator.next() as UInt32, radix: 16)
        return prefix + String(repeating: "0", count: 8 - suffix.count) + suffix
    }
}
