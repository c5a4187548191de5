import CNI
import JSON
import POSIX

/// A network configuration list as libcni loads it (libcni/conf.go): a `.conflist` by its
/// `name`, or a single plugin's `.conf`/`.json` made into a list of one.
struct NetworkConfigList {
    var name: String
    var cniVersion: String
    var disableCheck: Bool
    var disableGC: Bool
    var plugins: [JSONObject]
    /// The file's bytes, kept in libcni's result cache (`config`).
    var bytes: [UInt8]

    /// Parses a conflist; what libcni refuses (no name, no plugins, a plugin without type)
    /// is refused with the file named.
    init(conflist bytes: [UInt8], file: String) throws(CNIToolError) {
        guard let object = (try? JSONValue.parse(bytes))?.objectValue else {
            throw CNIToolError("\(file): not a JSON object")
        }
        let reader = ConfigReader(object)
        do {
            name = try reader.string("name") ?? ""
            cniVersion = try reader.string("cniVersion") ?? ""
            disableCheck = try reader.bool("disableCheck") ?? false
            disableGC = try reader.bool("disableGC") ?? false
            guard !name.isEmpty else { throw CNIToolError("\(file): no network name") }
            guard let list = try reader.objects("plugins"), !list.isEmpty else {
                throw CNIToolError("\(file): no plugins in the list")
            }
            plugins = list.map(\.object)
            for (index, plugin) in list.enumerated() where (try plugin.string("type") ?? "").isEmpty {
                throw CNIToolError("\(file): plugins[\(index)] has no type")
            }
        } catch let error as CNIToolError {
            throw error
        } catch {
            throw CNIToolError("\(file): \(error)")
        }
        self.bytes = bytes
    }

    /// One plugin's config as a list of one (libcni's ConfListFromConf).
    init(conf bytes: [UInt8], file: String) throws(CNIToolError) {
        guard let object = (try? JSONValue.parse(bytes))?.objectValue else {
            throw CNIToolError("\(file): not a JSON object")
        }
        let name = object["name"]?.stringValue ?? ""
        let version = object["cniVersion"]?.stringValue ?? ""
        let list: JSONValue = [
            "cniVersion": .string(version), "name": .string(name), "plugins": [.object(object)],
        ]
        try self.init(conflist: Array(list.serialized().utf8), file: file)
    }

    /// The list called `name` in `directory`: `.conflist` files first, then `.conf` and
    /// `.json`, each kind in name order (libcni's LoadNetworkConf).
    static func load(directory: String, name: String) throws(CNIToolError) -> NetworkConfigList {
        let files = Directory.entryNames(atPath: directory).sorted()
        guard !files.isEmpty || access(directory, R_OK) == 0 else {
            throw CNIToolError("no net configuration with name \"\(name)\" in \(directory) (cannot read it)")
        }
        for file in files where file.hasSuffix(".conflist") {
            guard let bytes = try? FileIO.readFile(directory + "/" + file) else { continue }
            if let list = try? NetworkConfigList(conflist: bytes, file: directory + "/" + file), list.name == name {
                return list
            }
        }
        for file in files where file.hasSuffix(".conf") || file.hasSuffix(".json") {
            guard let bytes = try? FileIO.readFile(directory + "/" + file) else { continue }
            if let list = try? NetworkConfigList(conf: bytes, file: directory + "/" + file), list.name == name {
                return list
            }
        }
        throw CNIToolError("no net configuration with name \"\(name)\" in \(directory)")
    }
}

/// Why cnitool stopped: said on stderr, exit status 1.
struct CNIToolError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

#if canImport(Glibc)
    import Glibc
#endif
