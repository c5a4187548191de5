// A netlink request answered in a process of its own, for a caller that must not wait for
// the kernel's answer (see csystem_detached_netlink_request in CSystem.h).
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
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

/// Every descriptor but `a` and `b` closed: the runtime that reads this process's stdout
/// until end of file must not wait for the worker.
static void close_all_but(int a, int b)
{
    unsigned int low = (unsigned int)(a < b ? a : b), high = (unsigned int)(a < b ? b : a);
    if (low > 0) close_from_to(0, low - 1);
    if (high > low + 1) close_from_to(low + 1, high - 1);
    if (high < UINT_MAX) close_from_to(high + 1, UINT_MAX);
}

/// Reads until the kernel's NLMSG_ERROR (the ack of the one request sent) and copies it into
/// `ack` (at most `capacity` bytes: a longer one is cut there, its nlmsg_len with it); returns
/// its length, or the negative errno of a failed read or EBADMSG for a truncated ack.
static int await_ack(int sock, char *ack, int capacity)
{
    union {
        char bytes[16384];
        struct nlmsghdr header;
    } buffer;
    for (;;) {
        ssize_t received = recv(sock, buffer.bytes, sizeof buffer.bytes, 0);
        if (received < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        int left = (int)received;
        for (struct nlmsghdr *message = &buffer.header; NLMSG_OK(message, left);
             message = NLMSG_NEXT(message, left)) {
            if (message->nlmsg_type != NLMSG_ERROR) continue;
            if (message->nlmsg_len < NLMSG_LENGTH(sizeof(int))) return -EBADMSG;
            int length = message->nlmsg_len < (unsigned)capacity ? (int)message->nlmsg_len : capacity;
            memcpy(ack, message, (size_t)length);
            ((struct nlmsghdr *)ack)->nlmsg_len = (unsigned)length;
            return length;
        }
    }
}

int csystem_detached_netlink_request(int socket_fd, const void *message, size_t length, int report_fd)
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
    // The middle process starts the worker and ends, so the worker belongs to init (or the
    // nearest subreaper), which reaps it; the caller reaps the middle one at once.
    pid_t worker = fork();
    if (worker != 0) _exit(worker < 0 ? 1 : 0);

    struct sigaction ignore = {0};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, NULL);
    setsid();
    close_all_but(socket_fd, report_fd);
    // The answer is one write (at most PIPE_BUF bytes, so the reader gets it whole): the
    // kernel's ack as it came, or the errno (an int) of a send or receive that failed.
    union {
        char bytes[PIPE_BUF];
        struct nlmsghdr header;
        int error;
    } answer;
    int answer_length = sizeof answer.error;
    if (send(socket_fd, message, length, 0) < 0) {
        answer.error = errno;
    } else {
        int received = await_ack(socket_fd, answer.bytes, (int)sizeof answer.bytes);
        if (received < 0) {
            answer.error = -received;
        } else {
            answer_length = received;
        }
    }
    ssize_t written;
    do {
        written = write(report_fd, answer.bytes, (size_t)answer_length);
    } while (written < 0 && errno == EINTR);
    _exit(0);
}

int csystem_become_subreaper(void)
{
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}
