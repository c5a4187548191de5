import JSON
import POSIX
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// portmap under a real runtime library: libcni (containerd's, Podman 4's, CRI-O's) runs
/// containerd's default `10-containerd-net.conflist` (bridge `cni0` dual stack + host-local +
/// portmap with the `portMappings` capability) with only our binaries in the plugin path, and
/// the port mappings passed as capability arguments, as containerd's CRI passes a pod's ports.
@Suite(.serialized, .enabled(if: !Testbed.insideVM))
struct PortmapClientTests {
    /// containerd's default (its script/setup/install-cni), as conf-examples/ ships it, with
    /// `dataDir` added to the IPAM (the test's store).
    static func containerdConflist(store: String) throws -> String {
        let text = try String(
            contentsOfProcFile: VMSuiteTests.repositoryRoot + "/conf-examples/10-containerd-net.conflist")
        return text.replacing(#""type": "host-local","#, with: #""type": "host-local", "dataDir": "\#(store)","#)
    }

    @Test func containerdsDefaultChainForwardsHostPortsBothFamilies() throws {
        let node = try PortmapEndToEndTests.Node()
        let list = node.stage.store.path + "/10-containerd-net.conflist"
        node.stage.store.write(
            "10-containerd-net.conflist", try Self.containerdConflist(store: node.stage.store.path + "/ipam"))
        let cache = node.stage.store.path + "/cache"
        let capabilities =
            #"{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":5353,"containerPort":53,"protocol":"udp"}]}"#
        try node.startServer(in: node.stage.container, log: node.stage.store.path + "/server.log")
        let (added, output, errors) = try LibcniInteropTests.drive(
            "add", list, host: node.host, netns: node.stage.netns, containerID: "cd1", cache: cache,
            capabilities: capabilities)
        #expect(added == 0, "\(errors)")
        let result = try JSONValue.parse(output)
        let addresses = (result["ips"]?.arrayValue ?? []).compactMap { $0["address"]?.stringValue }
        #expect(addresses == ["10.88.0.2/16", "2001:4860:4860::2/64"], "\(output)")

        #expect(try node.ask(from: node.client, "tcp", "198.51.100.1", 8080) == "198.51.100.2")
        #expect(try node.ask(from: node.client, "udp", "198.51.100.1", 5353) == "198.51.100.2")
        // (3 s: the first SYN to a fresh IPv6 neighbour may be lost while the links settle.)
        let six = try node.ask(from: node.client, "tcp", "2001:db8:1::1", 8080, timeout: 3)
        #expect(six == "2001:db8:1::2", "\(String(describing: six))")
        #expect(try node.ask(from: node.host, "tcp", "127.0.0.1", 8080) == "10.88.0.1")

        let (checked, _, checkErrors) = try LibcniInteropTests.drive(
            "check", list, host: node.host, netns: node.stage.netns, containerID: "cd1", cache: cache,
            capabilities: capabilities)
        #expect(checked == 0, "\(checkErrors)")
        let (deleted, _, deleteErrors) = try LibcniInteropTests.drive(
            "del", list, host: node.host, netns: node.stage.netns, containerID: "cd1", cache: cache,
            capabilities: capabilities)
        #expect(deleted == 0, "\(deleteErrors)")
        let state = try node.firewallState()
        #expect(!state.contains("CNI-DN-") && !state.contains("10.88.0.2") && !state.contains("2001:4860:4860::2"))
        #expect(try node.ask(from: node.client, "tcp", "198.51.100.1", 8080) == nil)
        #expect(try node.bed.linkNames(node.host).filter { $0.hasPrefix("veth") }.isEmpty)
        #expect(
            node.stage.store.files("ipam/containerd-net").filter { $0.hasPrefix("10.") || $0.hasPrefix("2001") }.isEmpty
        )
    }
}

extension PortmapClientTests {
    /// conf-examples' nftables-only chain through libcni (bridge ipMasq, portmap and firewall
    /// on nftables): host ports answer over both families, the rules are nf_tables ones and
    /// iptables gets nothing, DEL takes everything back.
    @Test func anNftablesOnlyNodesChain() throws {
        let node = try PortmapEndToEndTests.Node()
        let list = node.stage.store.path + "/30-nftables-node.conflist"
        let text = try String(
            contentsOfProcFile: VMSuiteTests.repositoryRoot + "/conf-examples/30-nftables-node.conflist")
        node.stage.store.write(
            "30-nftables-node.conflist",
            text.replacing(
                #""type": "host-local","#,
                with: #""type": "host-local", "dataDir": "\#(node.stage.store.path)/ipam","#))
        let cache = node.stage.store.path + "/cache"
        let capabilities = #"{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}"#
        try node.startServer(in: node.stage.container, log: node.stage.store.path + "/server.log")
        func drive(_ verb: String) throws -> (Int32, String, String) {
            try LibcniInteropTests.drive(
                verb, list, host: node.host, netns: node.stage.netns, containerID: "nf1", cache: cache,
                capabilities: capabilities)
        }
        let (added, output, errors) = try drive("add")
        #expect(added == 0, "\(errors)")
        #expect(output.contains("10.89.0.2/16") && output.contains("fd89::2/64"), "\(output)")
        #expect(try node.ask(from: node.client, "tcp", "198.51.100.1", 8080) == "198.51.100.2")
        let six = try node.ask(from: node.client, "tcp", "2001:db8:1::1", 8080, timeout: 3)
        #expect(six == "2001:db8:1::2", "\(String(describing: six))")
        let ruleset = try Testbed.run(["/usr/sbin/ip", "netns", "exec", node.host, "/usr/sbin/nft", "list", "ruleset"])
        for table in ["inet cni_plugins_masquerade", "ip cni_hostport", "ip6 cni_hostport", "inet cni_firewall"] {
            #expect(ruleset.contains("table \(table)"), "no \(table): \(ruleset)")
        }
        let nat = try Testbed.run(["/usr/sbin/ip", "netns", "exec", node.host, "/usr/sbin/iptables", "-t", "nat", "-S"])
        #expect(!nat.contains("CNI-"), "iptables got rules: \(nat)")
        let (checked, _, checkErrors) = try drive("check")
        #expect(checked == 0, "\(checkErrors)")
        let (deleted, _, deleteErrors) = try drive("del")
        #expect(deleted == 0, "\(deleteErrors)")
        let after = try Testbed.run(["/usr/sbin/ip", "netns", "exec", node.host, "/usr/sbin/nft", "list", "ruleset"])
        #expect(!after.contains("10.89.0.2") && !after.contains("fd89::2") && !after.contains("nf1"), "\(after)")
        #expect(try node.ask(from: node.client, "tcp", "198.51.100.1", 8080) == nil)
    }
}

/// containerd's GCE template through libcni: ptp (host-local) -> portmap with the
/// `portMappings` capability, only our binaries: the host port answers, DEL takes it back.
@Suite(.serialized, .enabled(if: !Testbed.insideVM))
struct PtpPortmapLibcniTests {
    @Test func ptpThenPortmap() throws {
        let node = try PortmapEndToEndTests.Node()
        let list = node.stage.store.path + "/ptp.conflist"
        node.stage.store.write(
            "ptp.conflist",
            #"{"cniVersion":"1.0.0","name":"k8s-pod-network","plugins":[{"type":"ptp","mtu":1460,"ipam":{"type":"host-local","dataDir":"\#(node.stage.store.path)/ipam","ranges":[[{"subnet":"10.62.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#
        )
        let cache = node.stage.store.path + "/cache"
        let capabilities = #"{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}"#
        try node.startServer(in: node.stage.container, log: node.stage.store.path + "/server.log")
        let (added, output, errors) = try LibcniInteropTests.drive(
            "add", list, host: node.host, netns: node.stage.netns, containerID: "g1", cache: cache,
            capabilities: capabilities)
        #expect(added == 0 && output.contains("10.62.0.2/24"), "\(errors)")
        #expect(try node.ask(from: node.client, "tcp", "198.51.100.1", 8080) == "198.51.100.2")
        let (checked, _, checkErrors) = try LibcniInteropTests.drive(
            "check", list, host: node.host, netns: node.stage.netns, containerID: "g1", cache: cache,
            capabilities: capabilities)
        #expect(checked == 0, "\(checkErrors)")
        let (deleted, _, deleteErrors) = try LibcniInteropTests.drive(
            "del", list, host: node.host, netns: node.stage.netns, containerID: "g1", cache: cache,
            capabilities: capabilities)
        #expect(deleted == 0, "\(deleteErrors)")
        #expect(try node.ask(from: node.client, "tcp", "198.51.100.1", 8080) == nil)
        #expect(try node.bed.linkNames(node.stage.container) == ["lo"])
        #expect(!(try node.firewallState()).contains("10.62.0.2"))
    }
}

/// Podman 4.3's CNI backend (`network_backend = "cni"`) with only our plugins in
/// `cni_plugin_dirs`: `podman run -p 8080:80` on Podman's default network chain (bridge ->
/// portmap -> firewall -> tuning, its 87-podman-bridge.conflist), then `podman rm`. Podman runs inside the test's host namespace (integration/podman-portmap.sh).
@Suite(
    .serialized,
    .enabled(
        if: !Testbed.insideVM && access("/usr/bin/podman", X_OK) == 0 && access("/usr/sbin/runc", X_OK) == 0,
        "needs podman and runc (integration/install-deps.sh installs them)"))
struct PortmapPodmanTests {
    @Test func podmanRunWithAHostPortAndRemove() throws {
        let node = try PortmapEndToEndTests.Node()
        let work = node.stage.store.path
        node.stage.store.write(
            "containers.conf",
            """
            [containers]
            default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
            [engine]
            cgroup_manager = "cgroupfs"
            runtime = "runc"
            events_logger = "file"
            events_logfile_path = "\(work)/events.log"
            [network]
            network_backend = "cni"
            cni_plugin_dirs = ["\(Testbed.binDirectory)"]
            network_config_dir = "\(work)/net.d"

            """)
        node.stage.store.write(
            "storage.conf",
            """
            [storage]
            driver = "vfs"
            graphroot = "\(work)/storage"
            runroot = "\(work)/run"

            """)
        try RuntimeClientSupport.prepareImage(in: node.stage.store, page: "hello from podman")
        node.stage.store.write(
            "net.d/87-podman-bridge.conflist",
            #"{"cniVersion":"0.4.0","name":"podman","plugins":[{"type":"bridge","bridge":"cni-podman0","isGateway":true,"ipMasq":true,"hairpinMode":true,"ipam":{"type":"host-local","dataDir":"\#(work)/ipam","routes":[{"dst":"0.0.0.0/0"}],"ranges":[[{"subnet":"10.88.0.0/16","gateway":"10.88.0.1"}]]}},{"type":"portmap","capabilities":{"portMappings":true}},{"type":"firewall"},{"type":"tuning"}]}"#
        )

        let output = try Testbed.run([
            "/usr/sbin/ip", "netns", "exec", node.host, "/bin/sh",
            VMSuiteTests.repositoryRoot + "/integration/podman-portmap.sh", work, node.client, "198.51.100.1",
        ])
        let marked = { (marker: String) in RuntimeClientSupport.marked(output, marker) }
        #expect(marked("client") == "hello from podman", "\(output)")
        #expect(marked("localhost") == "hello from podman", "\(output)")
        #expect(marked("inspect") == "10.88.0.2", "\(output)")
        #expect(marked("rm") == "0" && output.contains("@done"), "\(output)")
        // podman rm ran the chain's DEL.
        try RuntimeClientSupport.expectTornDown(node, network: "podman", address: "10.88.0.2")
    }
}

/// containerd 1.6's CRI (Debian's), as a kubelet calls it (integration/cri-client.py speaks
/// runtime.v1 over its socket): RunPodSandbox with a port mapping on containerd's default
/// network (bridge -> portmap) with only our plugins in `bin_dir`, the host port answered by the
/// sandbox, then StopPodSandbox and RemovePodSandbox. containerd runs inside the test's host
/// namespace (integration/containerd-cri.sh).
@Suite(
    .serialized,
    .enabled(
        if: !Testbed.insideVM && access("/usr/bin/containerd", X_OK) == 0 && access("/usr/bin/podman", X_OK) == 0,
        "needs containerd, podman (to build the sandbox image) and python3-grpcio (integration/install-deps.sh)"))
struct PortmapContainerdTests {
    @Test func runPodSandboxWithAHostPortThenStopAndRemove() throws {
        let node = try PortmapEndToEndTests.Node()
        let work = node.stage.store.path
        node.stage.store.write(
            "containers.conf",
            "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = \"\(work)/events.log\"\n"
        )
        node.stage.store.write(
            "storage.conf",
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"\(work)/storage\"\nrunroot = \"\(work)/run\"\n")
        try RuntimeClientSupport.prepareImage(in: node.stage.store, page: "hello from a pod")
        node.stage.store.write(
            "net.d/10-containerd-net.conflist",
            #"{"cniVersion":"1.0.0","name":"containerd-net","plugins":[{"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,"promiscMode":true,"ipam":{"type":"host-local","dataDir":"\#(work)/ipam","ranges":[[{"subnet":"10.88.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}]}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#
        )

        let output = try Testbed.run([
            "/usr/bin/timeout", "300", "/usr/sbin/ip", "netns", "exec", node.host, "/bin/sh",
            VMSuiteTests.repositoryRoot + "/integration/containerd-cri.sh", work, node.client, "198.51.100.1",
            Testbed.binDirectory,
        ])
        let marked = { (marker: String) in RuntimeClientSupport.marked(output, marker) }
        #expect(marked("ip") == "10.88.0.2", "\(output)")
        #expect(marked("client") == "hello from a pod", "\(output)")
        #expect(marked("localhost") == "hello from a pod", "\(output)")
        #expect(output.contains("@stopped") && output.contains("@removed"), "\(output)")
        // StopPodSandbox ran the chain's DEL.
        try RuntimeClientSupport.expectTornDown(node, network: "containerd-net", address: "10.88.0.2")
    }
}

/// What the real-runtime tests share.
enum RuntimeClientSupport {
    /// net.d/ and rootfs.tar in `store`: an image whose busybox serves `page` from /www.
    static func prepareImage(in store: TemporaryDirectory, page: String) throws {
        let work = store.path
        try Testbed.run(["/bin/mkdir", "-p", work + "/net.d", work + "/rootfs/www", work + "/rootfs/bin"])
        store.write("rootfs/www/index.html", page + "\n")
        try Testbed.run(["/bin/cp", "/bin/busybox", work + "/rootfs/bin/busybox"])
        try Testbed.run(["/bin/tar", "-C", work + "/rootfs", "-cf", work + "/rootfs.tar", "."])
    }

    /// The text after `@marker ` on a line of a script's output.
    static func marked(_ output: String, _ marker: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix("@\(marker) ") }.map {
            String($0.dropFirst(marker.count + 2))
        }
    }

    /// After the runtime's DEL: no portmap rule, no veth, no reservation of `network` is left.
    static func expectTornDown(_ node: PortmapEndToEndTests.Node, network: String, address: String) throws {
        let state =
            try node.firewallState()
            + (try Testbed.run(["/usr/sbin/ip", "netns", "exec", node.host, "/usr/sbin/iptables", "-S"]))
        #expect(!state.contains("CNI-DN-") && !state.contains(address), "\(state)")
        #expect(try node.bed.linkNames(node.host).filter { $0.hasPrefix("veth") }.isEmpty)
        #expect(node.stage.store.files("ipam/" + network).filter { $0.hasPrefix("10.") }.isEmpty)
    }
}
