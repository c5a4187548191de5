import CNI
import JSON
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// libcni's result cache (libcni/api.go `cachedInfo`, kind `cniCacheV1`): one JSON file per
/// attachment, `<dir>/results/<network>-<containerID>-<ifname>`, holding the conflist (base64,
/// as Go's encoding/json writes a []byte), the runtime's arguments and the ADD's result. The
/// same files containerd, CRI-O and Podman's libcni write: each can DEL what the other added.
struct ResultCache {
    static let kind = "cniCacheV1"
    var directory: String

    struct Entry {
        var containerID: String
        var ifName: String
        var networkName: String
        var netns: String
        var cniArgs: [(String, String)]
        var capabilityArgs: JSONObject?
        var result: JSONValue?
        var config: [UInt8]
    }

    func path(network: String, containerID: String, ifName: String) -> String {
        directory + "/results/\(network)-\(containerID)-\(ifName)"
    }

    /// Writes the entry (directory 0700, file 0600, as libcni).
    func write(_ entry: Entry) throws(CNIToolError) {
        var object = JSONObject()
        object["kind"] = .string(Self.kind)
        object["containerId"] = .string(entry.containerID)
        object["config"] = .string(Base64.encode(entry.config))
        object["ifName"] = .string(entry.ifName)
        object["networkName"] = .string(entry.networkName)
        if !entry.netns.isEmpty { object["netns"] = .string(entry.netns) }
        if !entry.cniArgs.isEmpty {
            object["cniArgs"] = .array(entry.cniArgs.map { [.string($0.0), .string($0.1)] })
        }
        if let capabilities = entry.capabilityArgs, !capabilities.isEmpty {
            object["capabilityArgs"] = .object(capabilities)
        }
        if let result = entry.result { object["result"] = result }
        let file = path(network: entry.networkName, containerID: entry.containerID, ifName: entry.ifName)
        do {
            try Directory.create(directory + "/results", mode: 0o700)
            try AtomicFile.replace(file, with: Array(JSONValue.object(object).serialized().utf8), mode: 0o600)
        } catch {
            throw CNIToolError("failed to set network \"\(entry.networkName)\" cached result: \(error)")
        }
    }

    /// The entry of an attachment; nil when there is none or it is not a cniCacheV1 file.
    func read(network: String, containerID: String, ifName: String) -> Entry? {
        read(file: path(network: network, containerID: containerID, ifName: ifName))
    }

    func read(file: String) -> Entry? {
        guard let bytes = try? FileIO.readFile(file), let object = (try? JSONValue.parse(bytes))?.objectValue,
            object["kind"]?.stringValue == Self.kind
        else { return nil }
        let arguments: [(String, String)] = (object["cniArgs"]?.arrayValue ?? []).compactMap { pair in
            guard let items = pair.arrayValue, items.count == 2, let key = items[0].stringValue,
                let value = items[1].stringValue
            else { return nil }
            return (key, value)
        }
        return Entry(
            containerID: object["containerId"]?.stringValue ?? "", ifName: object["ifName"]?.stringValue ?? "",
            networkName: object["networkName"]?.stringValue ?? "", netns: object["netns"]?.stringValue ?? "",
            cniArgs: arguments, capabilityArgs: object["capabilityArgs"]?.objectValue, result: object["result"],
            config: object["config"]?.stringValue.flatMap(Base64.decode) ?? [])
    }

    func remove(network: String, containerID: String, ifName: String) {
        unlink(path(network: network, containerID: containerID, ifName: ifName))
    }

    /// Every cached attachment (libcni's GetCachedAttachments).
    func all() -> [Entry] {
        Directory.entryNames(atPath: directory + "/results").sorted().compactMap {
            read(file: directory + "/results/" + $0)
        }
    }
}

/// RFC 4648 base64 with padding, as Go's encoding/json writes a []byte.
enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let a = bytes[index]
            let b = index + 1 < bytes.count ? bytes[index + 1] : 0
            let c = index + 2 < bytes.count ? bytes[index + 2] : 0
            out.append(alphabet[Int(a >> 2)])
            out.append(alphabet[Int((a & 3) << 4 | b >> 4)])
            out.append(index + 1 < bytes.count ? alphabet[Int((b & 15) << 2 | c >> 6)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(c & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// nil for anything that is not padded base64.
    static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        var values: [UInt8] = []
        var out: [UInt8] = []
        for (position, char) in input.enumerated() {
            if char == UInt8(ascii: "=") {
                guard position >= input.count - 2 else { return nil }
                values.append(0)
            } else if let value = alphabet.firstIndex(of: char) {
                values.append(UInt8(value))
            } else {
                return nil
            }
            if values.count == 4 {
                out.append(values[0] << 2 | values[1] >> 4)
                out.append(values[1] << 4 | values[2] >> 2)
                out.append(values[2] << 6 | values[3])
                values.removeAll()
            }
        }
        let padding = input.suffix(2).filter { $0 == UInt8(ascii: "=") }.count
        return Array(out.dropLast(padding))
    }
}
