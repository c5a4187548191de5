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
