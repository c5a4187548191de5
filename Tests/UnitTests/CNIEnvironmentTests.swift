import CNI
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct CNIEnvironmentTests {
    let full: ProcessEnvironment = [
        "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "abc", "CNI_NETNS": "/run/netns/x",
        "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin:/usr/lib/cni",
    ]

    @Test func readsAValidAddEnvironment() throws {
        let env = try #require(try CNIEnvironment.load(from: full))
        #expect(env.command == .add)
        #expect(env.path == ["/opt/cni/bin", "/usr/lib/cni"])
    }

    @Test func noCommandMeansAbout() throws {
        #expect(try CNIEnvironment.load(from: [:]) == nil)
    }

    @Test func listsEveryMissingVariableInOrder() {
        var env = full
        env["CNI_NETNS"] = ""
        env["CNI_PATH"] = nil
        env["CNI_CONTAINERID"] = nil
        #expect(
            throws: CNIError(
                code: .invalidEnvironment, msg: "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_PATH] missing")
        ) {
            try CNIEnvironment.load(from: env)
        }
    }

    @Test func delDoesNotNeedANetns() throws {
        var env = full
        env["CNI_COMMAND"] = "DEL"
        env["CNI_NETNS"] = nil
        #expect(try CNIEnvironment.load(from: env)?.netns == "")
    }

    @Test func versionNeedsNothingElse() throws {
        #expect(
            try CNIEnvironment.load(from: ["CNI_COMMAND": "VERSION", "CNI_CONTAINERID": "", "CNI_IFNAME": "dummy"])?
                .command == .version)
    }

    @Test func unknownCommand() {
        #expect(throws: CNIError(code: .invalidEnvironment, msg: "unknown CNI_COMMAND: FROB")) {
            try CNIEnvironment.load(from: ["CNI_COMMAND": "FROB"])
        }
    }

    @Test(arguments: ["-abc", "a b", "a/b", "ä", "_x", ""])
    func rejectsBadContainerIDs(_ id: String) {
        var env = full
        env["CNI_CONTAINERID"] = id
        if id.isEmpty {
            #expect(throws: CNIError.self) { try CNIEnvironment.load(from: env) }
        } else {
            #expect(throws: CNIError(code: .invalidEnvironment, msg: "invalid characters in containerID", details: id))
            {
                try CNIEnvironment.load(from: env)
            }
        }
    }

    @Test(arguments: [
        ("abcdefghijklmnop", "interface name is too long"), (".", "interface name is . or .."),
        ("..", "interface name is . or .."), ("a/b", "interface name contains / or : or whitespace characters"),
        ("a:b", "interface name contains / or : or whitespace characters"),
        ("a b", "interface name contains / or : or whitespace characters"),
    ])
    func rejectsBadInterfaceNames(_ name: String, _ message: String) {
        var env = full
        env["CNI_IFNAME"] = name
        #expect {
            try CNIEnvironment.load(from: env)
        } throws: { error in
            (error as? CNIError)?.code == 4 && (error as? CNIError)?.msg == message
        }
    }

    @Test func acceptsFifteenByteInterfaceName() throws {
        var env = full
        env["CNI_IFNAME"] = "abcdefghijklmno"
        #expect(try CNIEnvironment.load(from: env)?.ifName == "abcdefghijklmno")
    }

    @Test func parsesCNIArgs() throws {
        let args = try CNIArgs(parsing: "IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.0.0.5/24;Foo=bar", knownKeys: ["IP"])
        #expect(args["IP"] == "10.0.0.5/24")
        #expect(args["K8S_POD_NAME"] == "web")
        #expect(throws: CNIError.self) { try CNIArgs(parsing: "Foo=bar", knownKeys: ["IP"]) }
        #expect(throws: CNIError.self) { try CNIArgs(parsing: "IP", knownKeys: ["IP"]) }
        #expect(throws: CNIError.self) { try CNIArgs(parsing: "IP=a=b", knownKeys: ["IP"]) }
        #expect(throws: CNIError.self) { try CNIArgs(parsing: "IgnoreUnknown=maybe", knownKeys: []) }
        #expect(try CNIArgs(parsing: "IgnoreUnknown=TRUE;X=1", knownKeys: [])["X"] == "1")
    }
}

@Suite struct ProcessEnvironmentTests {
    let twice = ProcessEnvironment([
        .init(name: "PATH", value: "/usr/bin"), .init(name: "CNI_COMMAND", value: "ADD"),
        .init(name: "HOME", value: "/root"), .init(name: "CNI_COMMAND", value: "DEL"),
    ])

    @Test func theFirstOfTwoEntriesCountsAsForGetenv() {
        #expect(twice["CNI_COMMAND"] == "ADD")
        #expect(twice["MISSING"] == nil)
    }

    @Test func settingReplacesInPlaceAndDropsLaterEntries() {
        var environment = twice
        environment["CNI_COMMAND"] = "CHECK"
        #expect(environment.entries == ["PATH=/usr/bin", "CNI_COMMAND=CHECK", "HOME=/root"])
        environment["CNI_IFNAME"] = "eth0"
        #expect(environment.entries.last == "CNI_IFNAME=eth0")
        environment["PATH"] = nil
        #expect(environment.entries == ["CNI_COMMAND=CHECK", "HOME=/root", "CNI_IFNAME=eth0"])
    }

    @Test func theProcessEnvironmentKeepsItsOrderAndValues() {
        let current = ProcessEnvironment.current()
        #expect(current["PATH"] == getenv("PATH").map { String(cString: $0) })
        #expect(current.variables.count >= 1)
    }
}
