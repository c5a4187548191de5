import CNI
import CSystem
import JSON
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// Set by SIGTERM/SIGINT; the accept loop checks it.
nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0

/// `dhcp daemon`: listens on a unix socket (0600; or the socket systemd passes with
/// LISTEN_FDS), serves each plugin request on its own thread, renews leases on another, and
/// keeps leases on disk so that a restart resumes them. SIGTERM/SIGINT stop it cleanly
/// (the leases stay on disk and are not released).
public enum DHCPDaemon {
    public static func main(arguments: [String]) -> Never {
        let settings: DaemonSettings
        do {
            settings = try parse(arguments)
        } catch {
            log("\(error)")
            exit(2)
        }
        let manager = LeaseManager(settings: settings)
        let listener: FileDescriptor
        do {
            listener = try listen(settings)
        } catch {
            log("\(error)")
            exit(1)
        }
        if let pidFile = settings.pidFile {
            let text = Array("\(getpid())\n".utf8)
            do throws(SystemError) {
                let file = try FileDescriptor(
                    checking: open(pidFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644), "open", pidFile)
                try file.closeAfter { (file) throws(SystemError) in try FileIO.writeAll(text, to: file, path: pidFile) }
            } catch {
                log("pid file: \(error)")
            }
        }
        signal(SIGPIPE, SIG_IGN)
        // Whatever mask the daemon was started with, it must hear SIGTERM and SIGINT.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGTERM)
        sigaddset(&stopSignals, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
        signal(SIGTERM) { _ in stopRequested = 1 }
        signal(SIGINT) { _ in stopRequested = 1 }
        manager.resume()
        Thread.start { manager.renewalLoop() }
        log("listening on \(settings.listenPath), leases kept in \(settings.stateDirectory)")
        let workers = WorkerCount(limit: settings.maximumWorkers)
        var lastAcceptLog = 0.0
        while stopRequested == 0 {
            var descriptor = pollfd(fd: listener.rawValue, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 500) > 0 else { continue }
            let connection: FileDescriptor
            do throws(SystemError) {
                connection = try FileDescriptor(checking: csystem_accept_cloexec(listener.rawValue), "accept")
            } catch {
                // Out of descriptors or memory: the listener stays readable, so without a pause
                // the loop would spin. Back off and say so (at most once a minute).
                if error.errno != EINTR && error.errno != EAGAIN && error.errno != ECONNABORTED {
                    if MonotonicClock.seconds - lastAcceptLog > 60 {
                        log("\(error); pausing 100 ms between attempts")
                        lastAcceptLog = MonotonicClock.seconds
                    }
                    _ = poll(nil, 0, 100)
                }
                continue
            }
            guard let peer = UnixSocket.peer(connection),
                peer.uid == 0 || (settings.socketGroup.map { $0 == peer.gid } ?? false)
            else {
                log(
                    "refused a connection from \(UnixSocket.peer(connection).map { "uid \($0.uid) gid \($0.gid)" } ?? "an unknown peer"): root\(settings.socketGroup.map { " or group \($0)" } ?? "") only"
                )
                refuse(connection, "permission denied: the dhcp daemon serves root only", code: .invalidEnvironment)
                continue
            }
            guard workers.enter() else {
                refuse(connection, "the dhcp daemon is busy: \(settings.maximumWorkers) requests are in progress")
                continue
            }
            let started = Thread.start {
                serve(connection, manager)
                workers.leave()
            }
            if !started {
                workers.leave()
                refuse(connection, "the dhcp daemon cannot start a thread for the request")
            }
        }
        log("stopping; leases stay in \(settings.stateDirectory)")
        if getenv("LISTEN_FDS") == nil { unlink(settings.listenPath) }
        if let pidFile = settings.pidFile { unlink(pidFile) }
        exit(0)
    }

    /// The reference's flags (`-socketpath`, `-pidfile`, `-timeout`, `-resendmax`,
    /// `-broadcast`, `-hostprefix`) with one or two dashes, `-flag value` or `-flag=value`;
    /// and ours, `-statedir` and `-maxworkers` (requests served at once, default 64).
    static func parse(_ arguments: [String]) throws -> DaemonSettings {
        var settings = DaemonSettings()
        var index = 0
        while index < arguments.count {
            var flag = arguments[index]
            while flag.hasPrefix("-") { flag.removeFirst() }
            var value: String?
            if let equals = flag.firstIndex(of: "=") {
                value = String(flag[flag.index(after: equals)...])
                flag = String(flag[..<equals])
            }
            func next() throws -> String {
                if let value { return value }
                index += 1
                guard index < arguments.count else { throw CNIError.invalidConfig("-\(flag) needs a value") }
                return arguments[index]
            }
            switch flag {
            case "h", "help":
                FileIO.writeAll(.standardOutput, usage)
                exit(0)
            case "socketpath": settings.socketPath = try next()
            case "pidfile": settings.pidFile = try next()
            case "timeout": settings.acquireTimeout = try duration(try next())
            case "resendmax": settings.resendMaximum = try duration(try next())
            case "resendtimeout": settings.resendTimeout = try duration(try next())
            case "hostprefix": settings.hostPrefix = try next()
            case "statedir": settings.stateDirectory = try next()
            case "socketgroup":
                let text = try next()
                guard let group = UInt32(text), group > 0, group < UInt32.max else {
                    throw CNIError.invalidConfig(
                        "-socketgroup: expected a numeric group id above 0, found \"\(text.prefix(40))\"")
                }
                settings.socketGroup = gid_t(group)
            case "maxworkers":
                let text = try next()
                guard let count = Int(text), (1...4096).contains(count) else {
                    throw CNIError.invalidConfig("-maxworkers: expected 1 to 4096, found \"\(text.prefix(40))\"")
                }
                settings.maximumWorkers = count
            case "broadcast":
                // A Go bool flag: "-broadcast" alone or "=true" sets it, "=false" clears it.
                switch value {
                case nil, "true", "1", "t", "T", "TRUE", "True": settings.broadcast = true
                case "false", "0", "f", "F", "FALSE", "False": settings.broadcast = false
                default: throw CNIError.invalidConfig("-broadcast: expected true or false, found \"\(value ?? "")\"")
                }
            default:
                throw CNIError.invalidConfig(
                    "unknown flag -\(flag) (flags: -socketpath -pidfile -timeout -resendmax -broadcast -hostprefix -statedir -maxworkers -socketgroup)"
                )
            }
            index += 1
        }
        return settings
    }

    static var usage: String {
        """
        \(BuildInfo.banner(name: "dhcp")) daemon: keeps DHCP leases for the dhcp IPAM plugin.
        usage: dhcp daemon [flags]
          -socketpath PATH   unix socket the plugin talks to (default /run/cni/dhcp.sock; a stale
                             socket there is replaced, anything else is refused)
          -pidfile PATH      write the daemon's pid here
          -timeout DURATION  longest wait for a lease in an ADD (default 10s; at most 24h)
          -resendmax DURATION longest pause between retransmissions (default 62s)
          -resendtimeout DURATION longest renewal or rebinding exchange before the next timer (default 5s)
          -broadcast         ask servers for broadcast replies everywhere (off by default: unicast
                             replies are received on a packet socket; ipvlan always asks)
          -hostprefix PREFIX where the host's / is mounted (daemon in a container): prefixes the
                             socket path and the netns paths the plugin sends, as the reference
          -statedir PATH     where leases are kept across restarts (default /var/lib/cni/swift-dhcp)
          -maxworkers N      requests served at once, 1 to 4096 (default 64); more get code 11
          -socketgroup GID   also serve processes of this group (numeric id; socket mode 0660);
                             by default only root is served, whatever the socket's mode
          -h, -help          this text
        Durations: 500ms, 10s, 2m, 1h or plain seconds. Under systemd the socket can be passed in
        (LISTEN_FDS). SIGTERM or SIGINT stops the daemon; leases stay on disk.

        """
    }

    /// Go-style durations: "10s", "500ms", "2m", "1h", or a plain number of seconds.
    static func duration(_ text: String) throws -> Double {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let number = Double(text.dropLast(suffix.count)), number > 0,
                number * scale <= DaemonSettings.longestTimeout
            {
                return number * scale
            }
        }
        if let number = Double(text), number > 0, number <= DaemonSettings.longestTimeout { return number }
        throw CNIError.invalidConfig(
            "invalid duration \"\(text.prefix(40))\" (above 0, at most 24h; examples: 10s, 500ms, 2m)")
    }

    /// The listening socket: fd 3 from systemd (LISTEN_FDS=1 for this pid), or a new unix
    /// socket at the path, mode 0600. A live daemon already there is an error; a stale
    /// socket file is replaced.
    static func listen(_ settings: DaemonSettings) throws -> FileDescriptor {
        if let fds = getenv("LISTEN_FDS").map({ String(cString: $0) }), fds == "1",
            let pid = getenv("LISTEN_PID").map({ String(cString: $0) }), pid == String(getpid())
        {
            return FileDescriptor(rawValue: 3)
        }
        var info = stat()
        if lstat(settings.listenPath, &info) == 0 {
            // Only a stale socket is replaced: a file, directory or symlink at the path is
            // somebody else's (the reference refuses too: address already in use).
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw CNIError(
                    code: .invalidEnvironment,
                    msg: "\(settings.listenPath) exists and is not a socket; refusing to replace it")
            }
            if let existing = try? UnixSocket.connect(settings.listenPath, timeout: 0.5) {
                existing.closeIgnoringErrors()
                throw CNIError(
                    code: .invalidEnvironment, msg: "another dhcp daemon is listening on \(settings.listenPath)")
            }
            unlink(settings.listenPath)
        }
        let directory = String(
            settings.listenPath[..<(settings.listenPath.lastIndex(of: "/") ?? settings.listenPath.startIndex)])
        // A directory we make is ours alone; an existing one (a shared /run/cni) is left as it is.
        if !directory.isEmpty { _ = mkdir(directory, 0o700) }
        // The socket is born 0600 (0660 for a group): never connectable by others, not even
        // for the moment between bind(2) and a chmod.
        let fd = try UnixSocket.listen(settings.listenPath, mode: settings.socketGroup == nil ? 0o600 : 0o660)
        if let group = settings.socketGroup { _ = chown(settings.listenPath, uid_t.max, group) }
        return fd
    }

    /// Answers a connection the daemon cannot serve now with code 11 (try again later) and
    /// closes it; the reply is small enough for the socket buffer, and sent without waiting.
    static func refuse(_ connection: FileDescriptor, _ message: String, code: CNIError.Code = .tryAgainLater) {
        let reply: JSONValue = [
            "ok": false, "code": .integer(code.rawValue),
            "msg": .string(message + (code == .tryAgainLater ? "; try again" : "")),
        ]
        let bytes = Array((reply.serialized() + "\n").utf8)
        // What the client already sent is read first (without waiting): a unix socket closed
        // with unread data resets the connection, and the client would never see the reply.
        var scratch = [UInt8](repeating: 0, count: 4096)
        while scratch.withUnsafeMutableBytes({
            recv(connection.rawValue, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
        })
            > 0
        {}
        _ = bytes.withUnsafeBytes {
            send(connection.rawValue, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
        }
        connection.closeIgnoringErrors()
    }

    /// One connection: a request line in, a reply line out.
    static func serve(_ connection: FileDescriptor, _ manager: LeaseManager) {
        defer { connection.closeIgnoringErrors() }
        guard let line = UnixSocket.readLine(connection, timeout: 10) else { return }
        let reply: JSONValue
        do {
            let request = try DaemonRequest(json: try JSONValue.parse(line))
            reply = try handle(request, manager)
        } catch {
            let cniError =
                (error as? any CNIErrorConvertible)?.cniError
                ?? CNIError(code: .internalError, msg: String(describing: error))
            reply = [
                "ok": false, "code": .integer(cniError.code), "msg": .string(cniError.msg),
                "details": .string(cniError.details ?? ""),
            ]
        }
        FileIO.writeAll(connection, reply.serialized() + "\n")
    }

    static func handle(_ request: DaemonRequest, _ manager: LeaseManager) throws -> JSONValue {
        switch request.command {
        case .add:
            return try manager.acquireAll(request)
        case .del:
            manager.release(request.key)
            return ["ok": true]
        case .check:
            var reply = JSONObject()
            reply["ok"] = true
            for family in request.parameters.families {
                switch family {
                case .ipv4: reply["lease"] = manager.lease(request.key, Lease4Record.self).map(LeaseCoding.json)
                case .ipv6: reply["lease6"] = manager.lease(request.key, Lease6Record.self).map { LeaseCoding.json($0) }
                }
                guard reply[family == .ipv4 ? "lease" : "lease6"] != nil else {
                    throw CNIError(
                        code: .checkFailed,
                        msg:
                            "the dhcp daemon holds no \(family.rawValue) lease for \(request.ifName) of container \(request.containerID)"
                    )
                }
            }
            return .object(reply)
        case .gc:
            manager.collectGarbage(network: request.network, valid: Set(request.validAttachments))
            return ["ok": true]
        case .status:
            return ["ok": true]
        case .leases:
            return ["ok": true, "leases": .array(manager.listing())]
        }
    }
}
