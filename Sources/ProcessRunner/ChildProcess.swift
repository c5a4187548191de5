import CSystem
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// Why a child process could not be run.
public struct SpawnError: Error, Sendable, Equatable, CustomStringConvertible {
    public var executable: String
    public var operation: String
    public var errno: Int32
    public var description: String { "\(operation) \(executable): \(SystemError.message(for: errno))" }
}

/// Runs a program directly (posix_spawn, no shell), feeds it stdin, collects its stdout and
/// lets its stderr go to ours. Used to exec delegated plugins and firewall tools.
public enum ChildProcess {
    /// Spawn attributes that give the child an empty signal mask and default dispositions
    /// for the signals a parent commonly blocks or ignores: the calling thread's mask and
    /// ignored signals would otherwise be inherited (a test runner's thread blocks SIGTERM).
    private static func withCleanSignals<R>(_ body: (inout posix_spawnattr_t) -> R) -> R {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        return body(&attributes)
    }

    public struct Outcome: Sendable {
        /// The exit status, or 128 + the signal number when it was killed.
        public var status: Int32
        public var standardOutput: [UInt8]
        /// Only filled when `captureStandardError` is set; otherwise it went to our stderr.
        public var standardError: [UInt8]
        /// The child's peak resident set (ru_maxrss from wait4), in KiB.
        public var peakMemoryKiB: Int
    }

    /// Spawns `executable` with `arguments` (argv[0] is the executable path) and exactly
    /// `environment` ("K=V" entries), writes `input` to its stdin and closes it, and reads
    /// stdout (and, if asked, stderr) to the end, polling both ways so a large input or output
    /// cannot deadlock.
    public static func run(
        _ executable: String, arguments: [String] = [], environment: [String],
        input: [UInt8] = [], captureStandardError: Bool = false
    ) throws(SpawnError) -> Outcome {
        let stdinPipe: Pipe
        let stdoutPipe: Pipe
        var stderrPipe: Pipe?
        do {
            stdinPipe = try Pipe()
        } catch {
            throw SpawnError(executable: executable, operation: "pipe for", errno: error.errno)
        }
        do {
            stdoutPipe = try Pipe()
        } catch {
            stdinPipe.closeBoth()
            throw SpawnError(executable: executable, operation: "pipe for", errno: error.errno)
        }
        if captureStandardError {
            do {
                stderrPipe = try Pipe()
            } catch {
                stdinPipe.closeBoth()
                stdoutPipe.closeBoth()
                throw SpawnError(executable: executable, operation: "pipe for", errno: error.errno)
            }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe.readEnd.rawValue, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe.writeEnd.rawValue, 1)
        if let stderrPipe { posix_spawn_file_actions_adddup2(&actions, stderrPipe.writeEnd.rawValue, 2) }

        let argv = [executable] + arguments
        var pid: pid_t = 0
        let spawnResult = withCStrings(argv) { argvPointers in
            withCStrings(environment) { envPointers in
                withCleanSignals { attributes in
                    posix_spawn(&pid, executable, &actions, &attributes, argvPointers, envPointers)
                }
            }
        }
        // The child's ends are the child's now.
        stdinPipe.readEnd.closeIgnoringErrors()
        stdoutPipe.writeEnd.closeIgnoringErrors()
        stderrPipe?.writeEnd.closeIgnoringErrors()
        guard spawnResult == 0 else {
            stdinPipe.writeEnd.closeIgnoringErrors()
            stdoutPipe.readEnd.closeIgnoringErrors()
            stderrPipe?.readEnd.closeIgnoringErrors()
            throw SpawnError(executable: executable, operation: "exec", errno: spawnResult)
        }
        // A child that exits without reading stdin must not kill us with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        var output: [UInt8] = []
        var errorOutput: [UInt8] = []
        pump(
            input: input, inputFD: stdinPipe.writeEnd, outputFD: stdoutPipe.readEnd, output: &output,
            errorFD: stderrPipe?.readEnd, errorOutput: &errorOutput)
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            if errno != EINTR { throw SpawnError(executable: executable, operation: "wait for", errno: errno) }
        }
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Outcome(
            status: exitStatus, standardOutput: output, standardError: errorOutput, peakMemoryKiB: usage.ru_maxrss)
    }

    /// Starts a long-running program (a test's DHCP server, a daemon) without waiting for it,
    /// stdin from /dev/null and stdout/stderr appended to `logFile`. Returns its pid.
    public static func spawn(_ executable: String, arguments: [String] = [], environment: [String], logFile: String)
        throws(SpawnError) -> pid_t
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid: pid_t = 0
        let result = withCStrings([executable] + arguments) { argv in
            withCStrings(environment) { env in
                withCleanSignals { attributes in posix_spawn(&pid, executable, &actions, &attributes, argv, env) }
            }
        }
        guard result == 0 else { throw SpawnError(executable: executable, operation: "spawn", errno: result) }
        return pid
    }

    /// Sends `signal` to a spawned process and reaps it; one still running after `grace`
    /// seconds is killed (SIGKILL), so stopping never hangs.
    public static func stop(_ pid: pid_t, signal: Int32 = SIGTERM, grace: Double = 5) {
        kill(pid, signal)
        var status: Int32 = 0
        for _ in 0..<Int(grace * 20) {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped < 0 && errno != EINTR) { return }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    private static func pump(
        input: [UInt8], inputFD: FileDescriptor, outputFD: FileDescriptor, output: inout [UInt8],
        errorFD: FileDescriptor?, errorOutput: inout [UInt8]
    ) {
        var written = 0
        var inputOpen = true
        if input.isEmpty {
            inputFD.closeIgnoringErrors()
            inputOpen = false
        }
        var outputOpen = true
        var errorOpen = errorFD != nil
        var chunk = [UInt8](repeating: 0, count: 65536)
        while inputOpen || outputOpen || errorOpen {
            var fds: [pollfd] = []
            if inputOpen { fds.append(pollfd(fd: inputFD.rawValue, events: Int16(POLLOUT), revents: 0)) }
            if outputOpen { fds.append(pollfd(fd: outputFD.rawValue, events: Int16(POLLIN), revents: 0)) }
            if errorOpen, let errorFD { fds.append(pollfd(fd: errorFD.rawValue, events: Int16(POLLIN), revents: 0)) }
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for entry in fds where entry.revents != 0 {
                if entry.fd == inputFD.rawValue {
                    let count = input.withUnsafeBytes { raw -> Int in
                        guard let base = raw.baseAddress else { return 0 }
                        return write(inputFD.rawValue, base + written, raw.count - written)
                    }
                    if count > 0 { written += count }
                    if count < 0 && errno != EINTR && errno != EAGAIN || written == input.count {
                        inputFD.closeIgnoringErrors()
                        inputOpen = false
                    }
                } else {
                    let count = chunk.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                    if count > 0 {
                        if entry.fd == outputFD.rawValue {
                            output += chunk[0..<count]
                        } else {
                            errorOutput += chunk[0..<count]
                        }
                    } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                        FileDescriptor(rawValue: entry.fd).closeIgnoringErrors()
                        if entry.fd == outputFD.rawValue { outputOpen = false } else { errorOpen = false }
                    }
                }
            }
        }
    }

    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        // Each string's bytes (`rawBytes`: a name's bytes that are not UTF-8 go out as they came).
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.withRawCString { strdup($0) } }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return body(pointers)
    }
}
