import CNI
import JSON
import POSIX
import ProcessRunner

/// The verbs over a list's plugins, as libcni runs them: ADD in order, each given the previous
/// result, the last result cached; DEL in reverse order with the cached result; CHECK with it;
/// GC deleting every cached attachment of the network, then (1.1.0) each plugin's GC; STATUS.
struct Chain {
    let list: NetworkConfigList
    let cache: ResultCache

    /// ADD through every plugin; the final result, in the list's version.
    func add(_ runtime: Runtime) throws -> JSONValue? {
        try validate(runtime)
        var previous: JSONValue?
        for plugin in list.plugins {
            do {
                previous = try invoke(.add, plugin, previous: previous, runtime)
            } catch {
                throw CNIToolError("plugin \(Self.describe(plugin)) failed (add): \(error)")
            }
        }
        try cache.write(
            ResultCache.Entry(
                containerID: runtime.containerID, ifName: runtime.ifName, networkName: list.name, netns: runtime.netns,
                cniArgs: runtime.cniArgs, capabilityArgs: runtime.capabilityArgs, result: previous, config: list.bytes))
        return previous
    }

    func delete(_ given: Runtime) throws {
        // What the ADD was given (CNI_ARGS, CAP_ARGS) is in the cache: a DEL run without them
        // uses those, so portmap's rules go with the container (the CNI project's cnitool
        // passes only what this command line has, and portmap then leaves its rules).
        var runtime = given
        if let entry = cache.read(network: list.name, containerID: runtime.containerID, ifName: runtime.ifName) {
            if runtime.capabilityArgs.isEmpty { runtime.capabilityArgs = entry.capabilityArgs ?? JSONObject() }
            if runtime.cniArgs.isEmpty { runtime.cniArgs = entry.cniArgs }
        }
        // The cached result is DEL's prevResult since spec 0.4.0; a cache that does not read
        // (or convert) is dropped, as libcni drops it.
        var previous: JSONValue?
        if atLeast("0.4.0") {
            previous = cachedResult(runtime)
        }
        for plugin in list.plugins.reversed() {
            do {
                _ = try invoke(.delete, plugin, previous: previous, runtime)
            } catch {
                throw CNIToolError("plugin \(Self.describe(plugin)) failed (delete): \(error)")
            }
        }
        cache.remove(network: list.name, containerID: runtime.containerID, ifName: runtime.ifName)
    }

    func check(_ runtime: Runtime) throws {
        guard atLeast("0.4.0") else {
            throw CNIToolError("configuration version \"\(list.cniVersion)\" does not support the CHECK command")
        }
        if list.disableCheck { return }
        let previous = cachedResult(runtime)
        for plugin in list.plugins {
            do {
                _ = try invoke(.check, plugin, previous: previous, runtime)
            } catch {
                throw CNIToolError("plugin \(Self.describe(plugin)) failed (check): \(error)")
            }
        }
    }

    /// No attachment is valid (cnitool passes none): every cached attachment of the network is
    /// deleted with what its ADD was given, then each plugin of a 1.1.0 list collects garbage.
    func garbageCollect(_ runtime: Runtime) throws {
        if list.disableGC { return }
        var failures: [String] = []
        for entry in cache.all() where ExactName.equal(entry.networkName, list.name) {
            var stale = runtime
            stale.containerID = entry.containerID
            stale.netns = entry.netns
            stale.ifName = entry.ifName
            stale.cniArgs = entry.cniArgs
            stale.capabilityArgs = entry.capabilityArgs ?? JSONObject()
            do {
                try delete(stale)
            } catch {
                failures.append("failed to delete stale attachment \(entry.containerID) \(entry.ifName): \(error)")
            }
        }
        if atLeast("1.1.0") {
            for plugin in list.plugins {
                do {
                    _ = try invoke(.garbageCollect, plugin, previous: nil, runtime, injectRuntime: false)
                } catch {
                    failures.append("failed to GC plugin \(Self.describe(plugin)): \(error)")
                }
            }
        }
        if !failures.isEmpty { throw CNIToolError(failures.joined(separator: "; ")) }
    }

    func status(_ runtime: Runtime) throws {
        guard atLeast("1.1.0") else { return }
        for plugin in list.plugins {
            _ = try invoke(.status, plugin, previous: nil, runtime, injectRuntime: false)
        }
    }

    // MARK: Running one plugin

    func atLeast(_ version: String) -> Bool {
        guard let have = CNIVersion(parsing: CNIVersion.effective(list.cniVersion)),
            let want = CNIVersion(parsing: version)
        else { return false }
        return !(have < want)
    }

    static func describe(_ plugin: JSONObject) -> String {
        "type=\"\(plugin["type"]?.stringValue ?? "")\"" + (plugin["name"]?.stringValue.map { " name=\"\($0)\"" } ?? "")
    }

    /// libcni checks the container id, network name and interface name before an ADD.
    func validate(_ runtime: Runtime) throws {
        try CNIEnvironment.validateContainerID(runtime.containerID)
        guard CNIEnvironment.isValidIdentifier(list.name) else {
            throw CNIToolError("invalid characters in the network name \"\(list.name)\"")
        }
        try CNIEnvironment.validateInterfaceName(runtime.ifName)
    }

    /// The cached ADD result in the list's version; nil when there is none or it does not
    /// convert.
    func cachedResult(_ runtime: Runtime) -> JSONValue? {
        guard
            let entry = cache.read(network: list.name, containerID: runtime.containerID, ifName: runtime.ifName),
            let raw = entry.result,
            let result = try? CNIResult(json: raw, defaultVersion: list.cniVersion)
        else { return nil }
        return try? result.json(as: CNIVersion.effective(list.cniVersion))
    }

    /// The plugin's config as libcni builds it: `name`, `cniVersion` and `prevResult` set, the
    /// capability arguments the plugin declares in `runtimeConfig`.
    func configuration(
        _ plugin: JSONObject, previous: JSONValue?, _ runtime: Runtime, injectRuntime: Bool = true
    ) -> [UInt8] {
        var object = plugin
        object["name"] = .string(list.name)
        object["cniVersion"] = .string(list.cniVersion)
        if let previous { object["prevResult"] = previous }
        if injectRuntime {
            var runtimeConfig = JSONObject()
            for capability in plugin["capabilities"]?.objectValue?.keys ?? []
            where plugin["capabilities"]?[capability]?.boolValue == true {
                if let value = runtime.capabilityArgs[capability] { runtimeConfig[capability] = value }
            }
            if !runtimeConfig.isEmpty { object["runtimeConfig"] = .object(runtimeConfig) }
        }
        return Array(JSONValue.object(object).serialized().utf8)
    }

    /// Execs the plugin found on CNI_PATH with the CNI environment and its config on stdin;
    /// ADD's result (JSON, in the version the plugin printed), or the plugin's error.
    func invoke(
        _ command: CNICommand, _ plugin: JSONObject, previous: JSONValue?, _ runtime: Runtime,
        injectRuntime: Bool = true
    ) throws -> JSONValue? {
        let type = plugin["type"]?.stringValue ?? ""
        let executable = try Delegation.find(type: type, in: runtime.path)
        var environment = runtime.environment
        for key in ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"] {
            environment[key] = nil
        }
        environment["CNI_COMMAND"] = command.rawValue
        environment["CNI_PATH"] = runtime.path.joined(separator: ":")
        if command != .garbageCollect && command != .status {
            environment["CNI_CONTAINERID"] = runtime.containerID
            environment["CNI_NETNS"] = runtime.netns
            environment["CNI_IFNAME"] = runtime.ifName
            environment["CNI_ARGS"] = runtime.cniArgs.map { "\($0.0)=\($0.1)" }.joined(separator: ";")
        }
        let outcome = try ChildProcess.run(
            executable, environment: environment.entries,
            input: configuration(plugin, previous: previous, runtime, injectRuntime: injectRuntime))
        let printed = try? JSONValue.parse(outcome.standardOutput)
        guard outcome.status == 0 else {
            if let printed, let error = CNIError(json: printed) {
                throw CNIToolError(
                    "\(error.msg)" + (error.details.map { "; \($0)" } ?? "") + " (code \(error.code))")
            }
            throw CNIToolError(
                "exit status \(outcome.status): " + String(decoding: outcome.standardOutput.prefix(500), as: UTF8.self))
        }
        guard command == .add else { return nil }
        guard let printed, printed.objectValue != nil else { throw CNIToolError("the result is not a JSON object") }
        return printed
    }
}
