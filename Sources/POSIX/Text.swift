extension StringProtocol {
    /// Without the leading and trailing characters (Unicode scalars) for which `isTrimmed` holds.
    public func trimming(while isTrimmed: (Unicode.Scalar) -> Bool) -> String {
        let scalars = String(self).unicodeScalars
        guard let start = scalars.firstIndex(where: { !isTrimmed($0) }),
            let end = scalars.lastIndex(where: { !isTrimmed($0) })
        else { return "" }
        return String(scalars[start...end])
    }

    /// Without leading and trailing white space (Unicode's White_Space: spaces, tabs, CR, LF).
    public var trimmingWhitespace: String { trimming { $0.properties.isWhitespace } }
}

/// Names compared and hashed byte for byte. Swift's `String` equality and hashing follow
/// Unicode canonical equivalence, so `"n\u{e9}t" == "ne\u{301}t"`; the kernel, the store's
/// files, nft and the reference compare bytes, and to them these are two names. Every type
/// that keys or compares names (reservation owners, index keys, attachments, lease keys) goes
/// through `ExactName`.
public enum ExactName {
    /// The two names have the same UTF-8 bytes.
    public static func equal(_ left: String, _ right: String) -> Bool { left.utf8.elementsEqual(right.utf8) }

    /// Feeds the name's UTF-8 bytes, and its length (so that no two lists of names run together
    /// into the same bytes), to `hasher`.
    public static func hash(_ name: String, into hasher: inout Hasher) {
        hasher.combine(name.utf8.count)
        for byte in name.utf8 { hasher.combine(byte) }
    }
}

/// A dictionary key of names (a lease's container, network and interface) that two names with
/// different bytes never share.
public struct ExactKey: Hashable, Sendable {
    public let bytes: [UInt8]

    /// The parts' UTF-8 bytes, each preceded by its length, so no two lists of parts meet.
    public init(_ parts: String...) {
        var bytes: [UInt8] = []
        for part in parts {
            let count = UInt32(truncatingIfNeeded: part.utf8.count)
            bytes += [
                UInt8(count >> 24 & 0xff), UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff), UInt8(count & 0xff),
            ]
            bytes += part.utf8
        }
        self.bytes = bytes
    }
}
