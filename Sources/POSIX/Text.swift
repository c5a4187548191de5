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

/// Names as the kernel and the reference take them: bytes, not necessarily UTF-8. A Swift
/// `String` holds only Unicode, so a name's bytes that are not UTF-8 are kept in it as the
/// private-use scalars U+10FF00 + byte (plane 16's last block, which no interface name,
/// container id or path is written with; a name that does hold one has its bytes kept the
/// same way, so the mapping stays one to one); `rawBytes` gives the bytes back exactly. Every name
/// that reaches the kernel, a file, a hash or another process goes out through `rawBytes`.
public enum RawName {
    static let base: UInt32 = 0x10_FF00

    /// `bytes` as a name: valid UTF-8 as it is, every other byte as U+10FF00 + byte. Concrete
    /// overloads only: the generic `String(validating:as:)` this used to call ran unspecialized,
    /// resolving its types at run time on each plugin's first calls (~0.1 ms, in callgrind).
    public static func decode(_ bytes: [UInt8]) -> String { bytes.withUnsafeBufferPointer { decode($0) } }

    public static func decode(_ bytes: ArraySlice<UInt8>) -> String { bytes.withUnsafeBufferPointer { decode($0) } }

    public static func decode(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> String {
        decode(UnsafeBufferPointer(rebasing: bytes))
    }

    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        // Decoding is the identity on valid UTF-8 and replaces anything else, so the bytes
        // coming back unchanged means they were valid.
        let decoded = String(decoding: bytes, as: UTF8.self)
        if decoded.utf8.elementsEqual(bytes), !decoded.unicodeScalars.contains(where: isRawByte) {
            return decoded
        }
        let array = Array(bytes)
        var scalars = String.UnicodeScalarView()
        var index = 0
        while index < array.count {
            let length = validSequenceLength(array, at: index)
            if length > 0, case let text = String(decoding: array[index..<(index + length)], as: UTF8.self),
                !text.unicodeScalars.contains(where: isRawByte)
            {
                scalars.append(contentsOf: text.unicodeScalars)
                index += length
            } else {
                scalars.append(Unicode.Scalar(base + UInt32(array[index])) ?? "\u{FFFD}")
                index += 1
            }
        }
        return String(scalars)
    }

    /// The length of the well-formed UTF-8 sequence starting at `index` (RFC 3629: no overlong
    /// forms, no surrogates, nothing past U+10FFFF), or 0.
    static func validSequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let lead = bytes[index]
        let (length, low, high): (Int, UInt8, UInt8) =
            switch lead {
            case 0x00...0x7F: (1, 0x80, 0xBF)
            case 0xC2...0xDF: (2, 0x80, 0xBF)
            case 0xE0: (3, 0xA0, 0xBF)
            case 0xE1...0xEC, 0xEE...0xEF: (3, 0x80, 0xBF)
            case 0xED: (3, 0x80, 0x9F)
            case 0xF0: (4, 0x90, 0xBF)
            case 0xF1...0xF3: (4, 0x80, 0xBF)
            case 0xF4: (4, 0x80, 0x8F)
            default: (0, 0, 0)
            }
        guard length > 0, index + length <= bytes.count else { return 0 }
        if length > 1 && !(low...high).contains(bytes[index + 1]) { return 0 }
        for offset in 2..<max(2, length) where !(0x80...0xBF).contains(bytes[index + offset]) { return 0 }
        return length
    }

    /// The scalar stands for a byte that is not UTF-8.
    public static func isRawByte(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value >= base && scalar.value <= base + 0xFF
    }
}

extension String {
    /// The bytes this name stands for (see `RawName`): its UTF-8, but each U+10FF00 + b as the
    /// byte b.
    public var rawBytes: [UInt8] {
        guard unicodeScalars.contains(where: RawName.isRawByte) else { return Array(utf8) }
        var bytes: [UInt8] = []
        for scalar in unicodeScalars {
            if RawName.isRawByte(scalar) {
                bytes.append(UInt8(scalar.value - RawName.base))
            } else {
                bytes += String(scalar).utf8
            }
        }
        return bytes
    }

    /// Runs `body` with the name's bytes as a NUL-terminated C string (for open(2), setsockopt).
    public func withRawCString<Result>(_ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        let bytes = rawBytes.map { CChar(bitPattern: $0) } + [0]
        return try bytes.withUnsafeBufferPointer { buffer in
            // Never empty: the NUL is there.
            guard let start = buffer.baseAddress else { return try "".withCString(body) }
            return try body(start)
        }
    }
}
