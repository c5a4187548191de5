extension StringProtocol {
    /// Without leading and trailing white space (Unicode's White_Space: spaces, tabs, CR, LF).
    public var trimmingWhitespace: String {
        let scalars = String(self).unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let end = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[start...end])
    }
}
