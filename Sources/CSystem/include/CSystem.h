// Linux system calls Glibc's Swift overlay does not show without _GNU_SOURCE.
#ifndef SWIFT_CNI_CSYSTEM_H
#define SWIFT_CNI_CSYSTEM_H

#include <sys/types.h>
#include <sys/vfs.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <spawn.h>
#include <stdint.h>

/// The process's arguments as the kernel passed them to main, captured by a constructor
/// (glibc hands argc/argv to init functions, in static executables too). The Swift runtime
/// reads them from /proc/self/cmdline, which is missing where /proc is not mounted.
int csystem_argc(void);
char *const *csystem_argv(void);

/// setns(2) for a network namespace (CLONE_NEWNET). Returns 0 or -1 with errno set.
int csystem_setns_net(int fd);

/// unshare(CLONE_NEWNET) for the calling thread. Returns 0 or -1 with errno set.
int csystem_unshare_net(void);

/// The f_type of fstatfs(2), or -1 with errno set.
long csystem_fs_type(int fd);

/// pipe2(2) with O_CLOEXEC. Returns 0 or -1 with errno set.
int csystem_pipe_cloexec(int fds[2]);

/// SO_PEERCRED of a connected unix socket: the uid and gid of the process that connected.
/// Returns 0 or -1 with errno set.
int csystem_peer_credentials(int fd, uid_t *uid, gid_t *gid);

/// open(dirfd, ".", O_TMPFILE|O_WRONLY|O_CLOEXEC, mode): an unnamed file in that directory,
/// to be given a name with linkat once written. -1 with errno (EOPNOTSUPP/EISDIR: unsupported).
int csystem_open_tmpfile(int dirfd, unsigned int mode);

/// The size of a file by name relative to dirfd (fstatat without following links), and
/// whether it is a regular file. Returns 0 or -1 with errno set.
int csystem_file_size(int dirfd, const char *name, long long *size, int *is_regular);

/// ioctl(fd, NS_GET_NSTYPE): the CLONE_NEW* type of the namespace fd refers to (CLONE_NEWNET
/// for a network namespace), or -1 with errno set (ENOTTY: not a namespace file, or a kernel
/// before 4.11).
int csystem_namespace_type(int fd);

/// CLONE_NEWNET, for comparing with csystem_namespace_type.
int csystem_clone_newnet(void);

/// accept4(fd, NULL, NULL, SOCK_CLOEXEC): the new connection, or -1 with errno set.
int csystem_accept_cloexec(int fd);

/// The git commit the binary was built from ("unknown commit" outside a release build).
const char *csystem_build_commit(void);

/// "swift-cni-binary-v1": kept in every binary so an installer can recognise ours.
const char *csystem_marker(void);

/// Test hook of glibc_compat.c: 1 when its _dl_find_object agrees with glibc's for `address`,
/// 0 when not, -1 when glibc's cannot answer.
int csystem_find_object_agrees(void *address);

/// A packet socket (AF_PACKET, SOCK_DGRAM, ETH_P_IP) bound to `interface` in the calling
/// thread's network namespace: it sees every IPv4 packet the interface receives, also unicast
/// to an address not (yet) configured, which a UDP socket never sees. -1 with errno set
/// (ENODEV: no such interface; EPERM without CAP_NET_RAW).
int csystem_ip_packet_socket(const char *interface);

/// The descriptor of this binary's "swift-cni" ELF note: which build it is.
const char *csystem_build_identity(void);

/// The "swift-cni" note's descriptor of the ELF file at `path`, copied into `out` (at most
/// `capacity` bytes with the NUL); its length, or -1 when the file has none (another
/// implementation's binary, or not ELF).
int csystem_file_build_identity(const char *path, char *out, size_t capacity);

/// ioctl(fd, SIOCGSKNS): a descriptor of the network namespace socket `fd` belongs to
/// (O_CLOEXEC), or -1 with errno set (EPERM without CAP_NET_ADMIN there).
int csystem_socket_namespace(int fd);

/// Sends the netlink request `message` (NLM_F_ACK set) on the netlink socket `socket_fd`
/// from a process of its own, which waits for the kernel's ack and writes it to `report_fd`
/// in one write: the NLMSG_ERROR message as the kernel sent it (with its extended ack; cut at
/// PIPE_BUF bytes), or an int errno alone when sending or receiving failed. That worker keeps
/// no other descriptor of the caller (so a runtime reading the caller's stdout sees its end
/// when the caller exits) and is not the caller's child (init, or the nearest subreaper,
/// reaps it). Returns 0 once the worker is
/// started, -1 with errno set when it could not be (fork failed: EAGAIN, ENOMEM).
int csystem_detached_netlink_request(int socket_fd, const void *message, size_t length, int report_fd);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphans of this process's descendants become its
/// children (a benchmark waits for a DEL's worker with it). 0 or -1 with errno set.
int csystem_become_subreaper(void);

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t csystem_monotonic_ns(void);

#endif
