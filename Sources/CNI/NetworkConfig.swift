import JSON
import POSIX

/// The network configuration a plugin reads on stdin (§3, C3-C4): the common keys, typed,
/// and the whole object for the plugin's own keys (unknown keys are tolerated).
public struct NetworkConfig: Sendable {
    /// The exact bytes read, handed unchanged to delegates (F1).
    public var raw: [UInt8]
    public var json: JSONObject
    public var cniVersion: String

    /// The version results are printed at: `cniVersion`, or 0.1.0 when the config has none
    /// (the spec's rule for configs from before the key existed).
    public var effectiveVersion: String { CNIVersion.effective(cniVersion) }
    public var name: String
    public var type: String
    /// The `ipam` object; nil when absent.
    public var ipam: JSONObject?
    public var dns: DNS?
    public var runtimeConfig: JSONObject
    /// `args` (H2), e.g. `args.cni.ips`.
    public var args: JSONObject
    /// The previous plugin's (or the cached ADD) result, converted to the canonical form.
    public var prevResult: CNIResult?
    public var reader: ConfigReader { ConfigReader(json) }

    /// Decodes the config: not JSON is code 6 (A7); a missing or malformed `name` code 7.
    /// `requireName` is false for VERSION only.
    /// A prevResult that cannot be read is an error (code 6), except with `lenientPrevResult`
    /// (DEL): libcni drops a cached result it cannot convert and carries on, and so do we.
    public init(bytes: [UInt8], requireName: Bool = true, lenientPrevResult: Bool = false) throws(CNIError) {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw CNIError(code: .decodingFailure, msg: "error unmarshall network config: \(error)")
        }
        guard let object = value.objectValue else {
            throw CNIError(
                code: .decodingFailure,
                msg: "error unmarshall network config: expected an object, found \(value.kindName)")
        }
        let reader = ConfigReader(object)
        raw = bytes
        json = object
        cniVersion = try reader.string("cniVersion") ?? ""
        name = try reader.string("name") ?? ""
        type = try reader.string("type") ?? ""
        if requireName {
            if name.isEmpty { throw CNIError.invalidConfig("missing network name") }
            guard CNIEnvironment.isValidIdentifier(name) else {
                throw CNIError.invalidConfig("invalid characters found in network name", details: name)
            }
        }
        ipam = try reader.object("ipam")?.object
        dns = try reader.object("dns").map { reader throws(CNIError) in try DNS(reader) }
        runtimeConfig = try reader.object("runtimeConfig")?.object ?? JSONObject()
        args = try reader.object("args")?.object ?? JSONObject()
        if let previous = reader.value("prevResult") {
            do {
                prevResult = try CNIResult(json: previous, defaultVersion: cniVersion)
            } catch {
                if !lenientPrevResult {
                    throw CNIError(
                        code: .decodingFailure, msg: "failed to parse prevResult", details: error.description)
                }
            }
        }
    }

    /// The `ipam.type`, or nil when there is no IPAM (a missing or empty `ipam`: L2 only).
    public var ipamType: String? {
        guard let type = ipam?["type"]?.stringValue, !type.isEmpty else { return nil }
        return type
    }

    /// `cni.dev/valid-attachments`, falling back to `cni.dev/attachments` (G5); a missing
    /// or null list means no attachment is valid.
    public func validAttachments() throws(CNIError) -> [Attachment] {
        let reader = self.reader
        let key = reader.value("cni.dev/valid-attachments") != nil ? "cni.dev/valid-attachments" : "cni.dev/attachments"
        guard let list = try reader.objects(key) else { return [] }
        var attachments: [Attachment] = []
        for entry in list {
            attachments.append(
                Attachment(
                    containerID: try entry.string("containerID") ?? "",
                    ifName: try entry.string("ifname") ?? ""))
        }
        return attachments
    }
}

/// One (container, interface) pair the runtime still uses, from a GC request.
public struct Attachment: Hashable, Sendable {
    public var containerID: String
    public var ifName: String

    public init(containerID: String, ifName: String) {
        self.containerID = containerID
        self.ifName = ifName
    }

    /// Byte for byte (see `ExactName`).
    public static func == (left: Attachment, right: Attachment) -> Bool {
        ExactName.equal(left.containerID, right.containerID) && ExactName.equal(left.ifName, right.ifName)
    }

    public func hash(into hasher: inout Hasher) {
        ExactName.hash(containerID, into: &hasher)
        ExactName.hash(ifName, into: &hasher)
    }
}
