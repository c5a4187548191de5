import JSON
import POSIX
import ProcessRunner
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// deploy/kubernetes proved offline: the manifests validate, and every NetworkAttachment-
/// Definition's config is executed through ADD, CHECK and DEL the way Multus calls a plugin
/// for the pods that ask for it (CNI_ARGS with the pod's name, namespace and sandbox id;
/// `runtimeConfig` with the annotation's `ips` and `mac` where the config has those
/// capabilities; the annotation's interface name as CNI_IFNAME). The node's eth1, eth2,
/// eth2.10 and eth2.20 are veths of a host namespace the test makes. Two substitutions only:
/// host-local's dataDir and dhcp's socket path point into the test's directory.
enum KubernetesManifests {
    static var root: String { VMSuiteTests.repositoryRoot }
    static var directory: String { root + "/deploy/kubernetes" }
    static let validator = "/opt/swift-cni-tools/venv/bin/python3"

    struct Attachment {
        var nad: String
        var pod: String
        var interface: String
        var config: JSONObject
        var mac: String?
        var ips: [JSONValue]?
        var type: String { config["type"]?.stringValue ?? "" }
        /// Needs a kernel feature the host lacks: ipvlan, 802.1Q, bridge VLAN filtering.
        var needsVM: Bool {
            type == "ipvlan" || type == "vlan"
                || (type == "bridge" && (config["vlan"] != nil || config["vlanTrunk"] != nil))
        }
        var ipamType: String { config["ipam"]?["type"]?.stringValue ?? "" }
    }

    static func attachments() throws -> [Attachment] {
        let outcome = try ChildProcess.run(
            "/usr/bin/python3", arguments: [root + "/integration/k8s-manifests.py", "attachments", directory],
            environment: ["PATH=/usr/bin:/bin"], captureStandardError: true)
        guard outcome.status == 0 else {
            throw TestbedError(description: String(decoding: outcome.standardError, as: UTF8.self))
        }
        return String(decoding: outcome.standardOutput, as: UTF8.self).split(separator: "\n").compactMap { line in
            guard let value = try? JSONValue.parse(String(line)), let config = value["config"]?.objectValue else {
                return nil
            }
            return Attachment(
                nad: value["nad"]?.stringValue ?? "", pod: value["pod"]?.stringValue ?? "",
                interface: value["interface"]?.stringValue ?? "net1", config: config,
                mac: value["mac"]?.stringValue, ips: value["ips"]?.arrayValue)
        }
    }

    /// Runs one attachment through ADD, CHECK and DEL in a fresh host namespace.
    static func execute(_ attachment: Attachment, dhcpLab: DHCPLab? = nil) throws {
        let bed = try dhcpLab?.bed ?? Testbed()
        defer { if dhcpLab == nil { bed.tearDown() } }
        let store = try TemporaryDirectory()
        defer { store.remove() }
        let host: String
        if let dhcpLab {
            host = dhcpLab.host
        } else {
            host = try bed.namespace("node")
            for uplink in ["eth1", "eth2", "eth2.10", "eth2.20"] {
                try bed.ip(
                    host, "link", "add", uplink, "type", "veth", "peer", "name", "p-" + uplink.replacing(".", with: "-")
                )
                try bed.ip(host, "link", "set", uplink, "up")
            }
        }
        let container = try bed.namespace("pod")
        var config = attachment.config
        if var ipam = config["ipam"]?.objectValue {
            if attachment.ipamType == "host-local" { ipam["dataDir"] = .string(store.path) }
            if attachment.ipamType == "dhcp", let dhcpLab { ipam["daemonSocketPath"] = .string(dhcpLab.socketPath) }
            config["ipam"] = .object(ipam)
        }
        var runtime = JSONObject()
        let capabilities = config["capabilities"]?.objectValue ?? JSONObject()
        if capabilities["ips"] == true, let ips = attachment.ips { runtime["ips"] = .array(ips) }
        if capabilities["mac"] == true, let mac = attachment.mac { runtime["mac"] = .string(mac) }
        if !runtime.isEmpty { config["runtimeConfig"] = .object(runtime) }
        let text = JSONValue.object(config).serialized()
        let sandbox = "k8s\(attachment.pod)\(attachment.interface)"
        let args = [
            "CNI_ARGS":
                "IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=\(attachment.pod);K8S_POD_INFRA_CONTAINER_ID=\(sandbox)"
        ]
        let what = "\(attachment.nad) for pod \(attachment.pod) as \(attachment.interface)"
        let add = try bed.plugin(
            attachment.type, "ADD", config: text, host: host, containerID: sandbox, netns: bed.path(container),
            ifName: attachment.interface, environment: args)
        #expect(add.status == 0, "\(what): \(add.output)")
        let link = try bed.ipJSON(container, "addr", "show", attachment.interface).arrayValue?.first
        #expect(link != nil, "\(what): no \(attachment.interface) in the pod")
        for ip in attachment.ips ?? [] where capabilities["ips"] == true {
            let wanted = ip.stringValue ?? ""
            #expect(
                link?["addr_info"]?.arrayValue?.contains {
                    "\($0["local"]?.stringValue ?? "")/\($0["prefixlen"]?.intValue ?? 0)" == wanted
                } == true,
                "\(what): \(wanted) missing")
        }
        if let mac = attachment.mac, capabilities["mac"] == true {
            #expect(link?["address"]?.stringValue == mac, "\(what): MAC")
        }
        var checked = config
        checked["prevResult"] = add.json
        let check = try bed.plugin(
            attachment.type, "CHECK", config: JSONValue.object(checked).serialized(), host: host, containerID: sandbox,
            netns: bed.path(container), ifName: attachment.interface, environment: args)
        #expect(check.status == 0, "\(what): CHECK \(check.output)")
        let del = try bed.plugin(
            attachment.type, "DEL", config: JSONValue.object(checked).serialized(), host: host, containerID: sandbox,
            netns: bed.path(container), ifName: attachment.interface, environment: args)
        #expect(del.status == 0, "\(what): DEL \(del.output)")
        #expect(try bed.linkNames(container) == ["lo"], "\(what): left in the pod")
        try bed.deleteNamespace(container)
    }
}

@Suite(.enabled(if: !Testbed.insideVM, "the manifests are validated on the host; the VM runs KubernetesVMTests"))
struct KubernetesManifestTests {
    @Test func manifestsValidateOffline() throws {
        try #require(
            access(KubernetesManifests.validator, X_OK) == 0,
            "run integration/install-deps.sh (kubernetes-validate in /opt/swift-cni-tools/venv)")
        let outcome = try ChildProcess.run(
            KubernetesManifests.validator,
            arguments: [
                KubernetesManifests.root + "/integration/k8s-manifests.py",
                "validate", KubernetesManifests.directory, "1.34.0",
            ],
            environment: ["PATH=/usr/bin:/bin", "HOME=/root"], captureStandardError: true)
        let report = String(decoding: outcome.standardOutput + outcome.standardError, as: UTF8.self)
        FileIO.writeAll(.standardError, "kubernetes: \(report.split(separator: "\n").last ?? "")\n")
        #expect(outcome.status == 0, "\(report)")
        #expect(report.contains("0 failed, Kubernetes 1.34.0"))
        #expect(report.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count >= 20, "\(report)")
    }

    /// `kubectl kustomize deploy/kubernetes` renders the base (installer and dhcp DaemonSets),
    /// the rendering validates, and both DaemonSets run only on Linux nodes of the image's
    /// architectures, with the image named by the kustomization.
    @Test func theKustomizeBaseRendersAndValidates() throws {
        let kubectl = try #require(
            ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first { (path: String) in access(path, X_OK) == 0 },
            "kubectl is missing: integration/install-deps.sh installs Debian's kubernetes-client")
        let rendered = try ChildProcess.run(
            kubectl, arguments: ["kustomize", KubernetesManifests.directory],
            environment: ["PATH=/usr/bin:/bin", "HOME=/root"], captureStandardError: true)
        let text = String(decoding: rendered.standardOutput, as: UTF8.self)
        #expect(rendered.status == 0, "\(String(decoding: rendered.standardError, as: UTF8.self))")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        dir.write("rendered.yaml", text)
        let outcome = try ChildProcess.run(
            KubernetesManifests.validator,
            arguments: [KubernetesManifests.root + "/integration/k8s-manifests.py", "validate", dir.path, "1.34.0"],
            environment: ["PATH=/usr/bin:/bin", "HOME=/root"], captureStandardError: true)
        let report = String(decoding: outcome.standardOutput + outcome.standardError, as: UTF8.self)
        #expect(outcome.status == 0 && report.contains("0 failed"), "\(report)")
        #expect(report.contains("DaemonSet swift-cni-installer") && report.contains("DaemonSet swift-cni-dhcp"))
        #expect(text.ranges(of: "kubernetes.io/os: linux").count == 2, "both DaemonSets on Linux nodes")
        #expect(text.ranges(of: "key: kubernetes.io/arch").count == 2, "both pinned to architectures")
        // The image index's two platforms, and no other (a node of another architecture would
        // pull nothing it can run).
        #expect(text.ranges(of: "values:\n                - amd64\n                - arm64\n").count == 2, "\(text)")
        #expect(text.contains("image: localhost/swift-cni:0.2.0"), "\(text)")
        #expect(text.contains("type: spc_t"), "the installer may write /opt/cni/bin on SELinux nodes")
    }

    /// Every attachment the host kernel can make; whereabouts is only documented (not installed).
    @Test func networkAttachmentsRunAsMultusCallsThem() throws {
        let attachments = try KubernetesManifests.attachments()
        // Every NAD at least once: 16 networks, each asked for by an example pod.
        #expect(Set(attachments.map(\.nad)).count == 16, "\(attachments.map(\.nad))")
        #expect(!attachments.contains { $0.pod == "example" }, "a NAD without an example pod")
        var ran = 0
        for attachment in attachments
        where !attachment.needsVM && attachment.ipamType != "whereabouts" && attachment.ipamType != "dhcp" {
            try KubernetesManifests.execute(attachment)
            ran += 1
        }
        // dhcp: against a DHCP server on the node's eth1 and our daemon.
        for attachment in attachments where attachment.ipamType == "dhcp" {
            let bed = try Testbed()
            let lab = try DHCPLab(bed, uplink: "eth1")
            defer { lab.tearDown() }
            try KubernetesManifests.execute(attachment, dhcpLab: lab)
            ran += 1
        }
        FileIO.writeAll(.standardError, "kubernetes: \(ran) attachments executed on the host\n")
        #expect(ran == 9, "9 host-kernel attachments expected (16 less 6 for the VM and whereabouts)")
    }
}

@Suite(.enabled(if: Testbed.insideVM, "ipvlan, 802.1Q and VLAN-filtering NADs run inside the VM (VMSuiteTests)"))
struct KubernetesVMTests {
    @Test func kernelFeatureAttachmentsRun() throws {
        var ran = 0
        for attachment in try KubernetesManifests.attachments() where attachment.needsVM {
            try KubernetesManifests.execute(attachment)
            ran += 1
        }
        FileIO.writeAll(.standardError, "kubernetes: \(ran) attachments executed in the VM\n")
        #expect(ran == 6, "ipvlan l2/l3/l3s, vlan 10/20 and the VLAN-filtering bridge")
    }
}
