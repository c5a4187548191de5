// A netlink request answered in a process of its own, for a caller that must not wait for
// the kernel's answer (see csystem_detached_netlink_request in CSystem.h).
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include "CSystem.h"

int csystem_socket_namespace(int fd)
{
    return ioctl(fd, SIOCGSKNS);
}

/// close_range(first, last): the kernel's (5.9 and later), else one close per descriptor up
/// to a bound.
static void close_from_to(unsigned int first, unsigned int last)
{
    if (first > last) return;
#ifdef SYS_close_range
    if (syscall(SYS_close_range, first, last, 0) == 0) return;
#endif
    unsigned int bound = last < 65536 ? last : 65535;
    for (unsigned int fd = first; fd <= bound; fd++) close((int)fd);
}

/// Every descriptor but those in `keep` (ascending, at most 8) closed: a runtime that reads
/// this process's stdout until end of file must not wait for the worker.
static void close_all_except(const int *keep, int count)
{
    unsigned int next = 0;
    for (int i = 0; i < count; i++) {
        unsigned int fd = (unsigned int)keep[i];
        if (fd > next) close_from_to(next, fd - 1);
        next = fd + 1;
    }
    close_from_to(next, UINT_MAX);
}

/// Forks twice: returns 1 in the worker, a grandchild the caller does not wait for (init, or
/// the nearest subreaper, reaps it), with SIGPIPE ignored and a session of its own; 0 in the
/// caller once the middle process has ended; -1 with errno set when the worker could not be
/// started.
static int fork_detached_worker(void)
{
    pid_t middle = fork();
    if (middle < 0) return -1;
    if (middle > 0) {
        int status = 0;
        while (waitpid(middle, &status, 0) < 0) {
            // ECHILD: SIGCHLD is ignored here (inherited), the kernel reaped it already.
            if (errno == ECHILD) return 0;
            if (errno != EINTR) return -1;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            errno = EAGAIN;
            return -1;
        }
        return 0;
    }
    pid_t worker = fork();
    if (worker != 0) _exit(worker < 0 ? 1 : 0);
    struct sigaction ignore = {0};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, NULL);
    setsid();
    return 1;
}

/// Reads until the kernel's NLMSG_ERROR (the ack of the one request sent); its errno, 0 for
/// success.
static int await_ack(int sock)
{
    union {
        char bytes[16384];
        struct nlmsghdr header;
    } buffer;
    for (;;) {
        ssize_t received = recv(sock, buffer.bytes, sizeof buffer.bytes, 0);
        if (received < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        int left = (int)received;
        for (struct nlmsghdr *message = &buffer.header; NLMSG_OK(message, left);
             message = NLMSG_NEXT(message, left)) {
            if (message->nlmsg_type != NLMSG_ERROR) continue;
            if (message->nlmsg_len < NLMSG_LENGTH(sizeof(int))) return EBADMSG;
            int error = *(const int *)NLMSG_DATA(message);
            return error < 0 ? -error : 0;
        }
    }
}

int csystem_detached_netlink_request(int socket_fd, const void *message, size_t length, int report_fd)
{
    int forked = fork_detached_worker();
    if (forked <= 0) return forked;
    int keep[2] = {socket_fd < report_fd ? socket_fd : report_fd, socket_fd < report_fd ? report_fd : socket_fd};
    close_all_except(keep, 2);
    int result = 0;
    if (send(socket_fd, message, length, 0) < 0) {
        result = errno;
    } else {
        result = await_ack(socket_fd);
    }
    ssize_t written;
    do {
        written = write(report_fd, &result, sizeof result);
    } while (written < 0 && errno == EINTR);
    _exit(0);
}

int csystem_detached_close(const int *fds, int count)
{
    if (count < 0 || count > 8) {
        errno = EINVAL;
        return -1;
    }
    int keep[8];
    for (int i = 0; i < count; i++) keep[i] = fds[i];
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int swap = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = swap;
        }
    int forked = fork_detached_worker();
    if (forked <= 0) return forked;
    close_all_except(keep, count);
    for (int i = 0; i < count; i++) close(keep[i]);
    _exit(0);
}
