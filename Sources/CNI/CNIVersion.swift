/// A spec version ("1.1.0"): up to three dot-separated integers, "" meaning 0.1.0 (E5).
public struct CNIVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// nil for four or more parts or a part that is not a non-negative integer.
    public init?(parsing text: String) {
        if text.isEmpty {
            self.init(0, 1, 0)
            return
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 3 else { return nil }
        var numbers: [Int] = []
        for part in parts {
            guard !part.isEmpty, part.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(part) else {
                return nil
            }
            numbers.append(value)
        }
        while numbers.count < 3 { numbers.append(0) }
        self.init(numbers[0], numbers[1], numbers[2])
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (lhs: CNIVersion, rhs: CNIVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    /// Every version the suite reads and writes, as exact strings (E2 compares strings).
    public static let supported = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
    public static let current = "1.1.0"

    /// The result layout a version uses.
    public enum ResultLayout: Sendable {
        /// 0.1.0 and 0.2.0: `ip4` / `ip6`.
        case legacy
        /// 0.3.0 to 0.4.0: `interfaces`, `ips` with `version`, `routes`.
        case v04
        /// 1.0.0 and 1.1.0: `ips` without `version`, richer interfaces and routes.
        case v1
    }

    public var resultLayout: ResultLayout {
        if self < CNIVersion(0, 3, 0) { return .legacy }
        if self < CNIVersion(1, 0, 0) { return .v04 }
        return .v1
    }
}

extension CNIVersion {
    /// A config's version as results are printed at: an empty one means 0.1.0.
    public static func effective(_ text: String) -> String { text.isEmpty ? "0.1.0" : text }
}
