import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// A process environment: its variables in the order the process got them, looked up by name.
///
/// A plugin's environment holds a few dozen variables and is asked for a handful, once: a scan
/// costs less than hashing them all into a dictionary, and a static binary pays for each
/// generic type it instantiates (the runtime's metadata lookup, a third of ADD's instructions
/// under callgrind). The order is kept, so a delegate gets its variables in the runtime's
/// order. When a name occurs twice, the first counts, as for getenv(3) and the reference
/// (Go's os.Getenv).
public struct ProcessEnvironment: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    /// One `NAME=value` entry.
    public struct Variable: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public private(set) var variables: [Variable]

    public init(_ variables: [Variable] = []) { self.variables = variables }

    public init(dictionaryLiteral elements: (String, String)...) {
        variables = []
        for (name, value) in elements { self[name] = value }
    }

    /// The first value of `name`. Setting replaces it (and drops later entries of the same
    /// name), appends a new name at the end, or with nil removes every entry of the name.
    public subscript(name: String) -> String? {
        get { variables.first { $0.name == name }?.value }
        set {
            guard let newValue else {
                variables.removeAll { $0.name == name }
                return
            }
            guard let first = variables.firstIndex(where: { $0.name == name }) else {
                variables.append(Variable(name: name, value: newValue))
                return
            }
            variables[first].value = newValue
            var index = first + 1
            while index < variables.count {
                if variables[index].name == name { variables.remove(at: index) } else { index += 1 }
            }
        }
    }

    /// The `NAME=value` strings an exec takes.
    public var entries: [String] { variables.map { $0.name + "=" + $0.value } }

    /// This process's environment (`environ`), split on the first '=' byte (no Character
    /// processing: a plugin's start-up should not page in the runtime's grapheme tables).
    /// Values are decoded as names (`RawName`): bytes that are not UTF-8 are kept, so an
    /// interface name is the same bytes to us as to the kernel and the reference (never U+FFFD
    /// in their place). An entry without '=' is skipped.
    public static func current() -> ProcessEnvironment {
        var variables: [Variable] = []
        var pointer = environ
        while let entry = pointer.pointee {
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                let buffer = UnsafeBufferPointer(start: bytes, count: length)
                if let equals = buffer.firstIndex(of: UInt8(ascii: "=")) {
                    variables.append(
                        Variable(
                            name: String(decoding: buffer[..<equals], as: UTF8.self),
                            value: RawName.decode(buffer[(equals + 1)...])))
                }
            }
            pointer += 1
        }
        return ProcessEnvironment(variables)
    }
}
