#define _GNU_SOURCE
#include <sched.h>
#include <errno.h>
#include <time.h>
#include "CSystem.h"

int csystem_setns_net(int fd) { return setns(fd, CLONE_NEWNET); }

int csystem_unshare_net(void) { return unshare(CLONE_NEWNET); }

#include <sys/ioctl.h>
#include <linux/nsfs.h>
int csystem_namespace_type(int fd) { return ioctl(fd, NS_GET_NSTYPE); }

int csystem_clone_newnet(void) { return CLONE_NEWNET; }

long csystem_fs_type(int fd) {
    struct statfs s;
    if (fstatfs(fd, &s) != 0) return -1;
    return (long)s.f_type;
}

uint64_t csystem_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#include <fcntl.h>
#include <unistd.h>
int csystem_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

#include <sys/stat.h>
int csystem_open_tmpfile(int dirfd, unsigned int mode) {
    return openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
}

int csystem_file_size(int dirfd, const char *name, long long *size, int *is_regular) {
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
    *size = (long long)st.st_size;
    *is_regular = S_ISREG(st.st_mode) ? 1 : 0;
    return 0;
}

#include <sys/socket.h>
int csystem_accept_cloexec(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }

/* The build's commit, stamped by integration/build-release.sh (-DSWIFT_CNI_COMMIT="..."). */
#ifndef SWIFT_CNI_COMMIT
#define SWIFT_CNI_COMMIT "unknown commit"
#endif
const char *csystem_build_commit(void) { return SWIFT_CNI_COMMIT; }

/* A string the installer looks for to tell our binaries from other implementations'. */
__attribute__((used)) const char csystem_binary_marker[] = "swift-cni-binary-v1";
const char *csystem_marker(void) { return csystem_binary_marker; }

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
int csystem_ip_packet_socket(const char *interface) {
    unsigned int index = if_nametoindex(interface);
    if (index == 0) return -1;
    /* Protocol 0: the socket hears nothing until bind() names the protocol and the interface.
       Created with ETH_P_IP it would be hooked to every interface at once, and bind() would then
       have to unhook it first, which waits for an RCU grace period (synchronize_net: ~15 ms). */
    int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_ll address = { 0 };
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_IP);
    address.sll_ifindex = (int)index;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int captured_argc;
static char *const *captured_argv;

__attribute__((constructor)) static void csystem_capture_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    captured_argc = argc;
    captured_argv = argv;
}

int csystem_argc(void) { return captured_argv ? captured_argc : 0; }
char *const *csystem_argv(void) { return captured_argv; }

#include <sys/socket.h>
int csystem_peer_credentials(int fd, uid_t *uid, gid_t *gid) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}
