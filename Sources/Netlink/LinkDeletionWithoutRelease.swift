import CMnl
import CSystem
import Namespaces
import POSIX

#if canImport(Glibc)
    import Glibc
#endif

/// Deleting a link costs the caller the kernel's release of it: after taking the link out of
/// its namespace, RTM_DELLINK's handler waits in netdev_run_todo for an RCU barrier and for
/// the link's last references (10-40 ms on an idle node: most of a DEL). Nothing a runtime
/// does next depends on that release: once the link is out of the namespace its name is free,
/// its addresses and routes are gone and no one can reach it.
extension RouteNetlink {
    /// RTM_DELLINK by index, returning as soon as the kernel has taken the link out of its
    /// namespace. The request goes out on a socket of its own from a worker process
    /// (double-forked: it keeps no descriptor of ours but that socket and its answer pipe, and
    /// init or the nearest subreaper reaps it), which waits for the ack; this returns at the
    /// kernel's RTM_DELLINK notification of the link (RTNLGRP_LINK, sent before the release)
    /// or at the worker's answer, whichever comes first. An error (ENODEV: already gone) comes
    /// with the worker's answer, with the kernel's extended-ack text as `deleteLink` has it.
    /// Where the worker cannot be set up (a transport that is not a kernel socket, no
    /// SIOCGSKNS, fork failing) or ends without an answer, this is `deleteLink(index:)`.
    public func deleteLinkWithoutWaitingForRelease(index: Int32) throws(NetlinkError) {
        guard let socket = transport as? MnlSocket else { return try deleteLink(index: index) }
        let namespaceFD = csystem_socket_namespace(socket.descriptor.rawValue)
        guard namespaceFD >= 0 else { return try deleteLink(index: index) }
        let namespace = NetworkNamespace(adopting: FileDescriptor(rawValue: namespaceFD), path: "the link's namespace")
        // Both sockets in the link's namespace: the worker's, and ours for the notification.
        guard
            let (worker, notifications) = try? namespace.run({ () throws(NetlinkError) in
                (try MnlSocket(), try MnlSocket())
            }), notifications.join(group: RTNLGRP_LINK.rawValue)
        else { return try deleteLink(index: index) }
        var ends: [Int32] = [-1, -1]
        guard csystem_pipe_cloexec(&ends) == 0 else { return try deleteLink(index: index) }
        let answer = FileDescriptor(rawValue: ends[0])
        defer { answer.closeIgnoringErrors() }
        let operation = "delete link #\(index)"
        let request = MessageBuilder(type: Int(RTM_DELLINK), flags: Int32(NLM_F_ACK))
        request.putFamilyHeader(Self.linkHeader(index: index))
        let bytes = try request.bytes(sequence: 1, operation: { operation })
        let started = bytes.withUnsafeBytes {
            csystem_detached_netlink_request(worker.descriptor.rawValue, $0.baseAddress, $0.count, ends[1])
        }
        FileDescriptor(rawValue: ends[1]).closeIgnoringErrors()
        guard started == 0 else { return try deleteLink(index: index) }
        var watching = true
        while true {
            var ready = [
                pollfd(fd: answer.rawValue, events: Int16(POLLIN), revents: 0),
                pollfd(fd: watching ? notifications.descriptor.rawValue : -1, events: Int16(POLLIN), revents: 0),
            ]
            guard poll(&ready, 2, -1) >= 0 else {
                if errno == EINTR { continue }
                throw NetlinkError(operation: operation, errno: errno)
            }
            if ready[1].revents != 0 {
                do throws(NetlinkError) {
                    if Self.announcesDeletion(of: index, try notifications.receive()) { return }
                } catch {
                    // ENOBUFS: notifications were lost; the worker's answer still comes.
                    watching = false
                }
            }
            if ready[0].revents != 0 {
                var bytes = [UInt8](repeating: 0, count: Self.workerAnswerCapacity)
                let count = read(answer.rawValue, &bytes, bytes.count)
                if count < 0 && errno == EINTR { continue }
                switch Self.workerAnswer(Array(bytes.prefix(max(count, 0))), operation: operation) {
                case .succeeded: return
                case .failed(let error): throw error
                // No answer: the worker was killed, before or after sending; asking again
                // says (ENODEV when it had been sent).
                case .unreadable: return try deleteLink(index: index)
                }
            }
        }
    }

    /// The most a worker's answer holds: it writes it at once, and a pipe keeps a write of up
    /// to PIPE_BUF bytes whole.
    static let workerAnswerCapacity = 4096

    /// What a detached worker's answer says (`csystem_detached_netlink_request`).
    public enum WorkerAnswer: Equatable {
        case succeeded
        /// The kernel's errno and extended-ack text, or the errno of the worker's send or receive.
        case failed(NetlinkError)
        /// Nothing, or neither an ack nor an errno: the worker ended without answering.
        case unreadable
    }

    /// Reads a worker's answer: the kernel's NLMSG_ERROR as it came (read as `perform` reads
    /// one), or an errno alone (4 bytes).
    public static func workerAnswer(_ bytes: [UInt8], operation: String) -> WorkerAnswer {
        if bytes.count == MemoryLayout<Int32>.size, let error = bytes.load(Int32.self, at: 0) {
            return error == 0 ? .succeeded : .failed(NetlinkError(operation: operation, errno: error))
        }
        guard let ack = NetlinkMessage.split(bytes).first(where: { Int32($0.type) == Int32(NLMSG_ERROR) }) else {
            return .unreadable
        }
        return failure(of: ack, operation: { operation }).map { .failed($0) } ?? .succeeded
    }

    /// Whether `datagram` holds the kernel's RTM_DELLINK notification of link `index`.
    public static func announcesDeletion(of index: Int32, _ datagram: [UInt8]) -> Bool {
        NetlinkMessage.split(datagram).contains {
            Int32($0.type) == Int32(RTM_DELLINK) && $0.payload.load(ifinfomsg.self, at: 0)?.ifi_index == index
        }
    }
}
