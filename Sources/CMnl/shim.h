// What Swift cannot import from libmnl and the kernel's uapi headers on its own:
// function-like macros and a few constants, as static inline functions.
#ifndef SWIFT_CNI_CMNL_SHIM_H
#define SWIFT_CNI_CMNL_SHIM_H

#include <sys/socket.h>
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/veth.h>
#include <linux/neighbour.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdint.h>

/// MNL_SOCKET_BUFFER_SIZE is a macro over sysconf(): a plain value for Swift.
static inline size_t cmnl_socket_buffer_size(void) { return MNL_SOCKET_BUFFER_SIZE; }

/// NLMSG_ALIGN / NLA_ALIGN as functions.
static inline size_t cmnl_align(size_t len) { return MNL_ALIGN(len); }

/// sizeof the kernel's fixed headers, so Swift never hard-codes them.
static inline size_t cmnl_sizeof_nlmsghdr(void) { return sizeof(struct nlmsghdr); }
static inline size_t cmnl_sizeof_nlmsgerr(void) { return sizeof(struct nlmsgerr); }
static inline size_t cmnl_sizeof_ifinfomsg(void) { return sizeof(struct ifinfomsg); }
static inline size_t cmnl_sizeof_ifaddrmsg(void) { return sizeof(struct ifaddrmsg); }
static inline size_t cmnl_sizeof_rtmsg(void) { return sizeof(struct rtmsg); }
static inline size_t cmnl_sizeof_nfgenmsg(void) { return sizeof(struct nfgenmsg); }

/// Constants that arrive as macros Swift does not see (values from the uapi headers).
static inline int cmnl_netlink_ext_ack(void) { return NETLINK_EXT_ACK; }
static inline int cmnl_netlink_cap_ack(void) { return NETLINK_CAP_ACK; }
static inline int cmnl_netlink_get_strict_chk(void) { return NETLINK_GET_STRICT_CHK; }
static inline unsigned int cmnl_socket_autopid(void) { return MNL_SOCKET_AUTOPID; }

#endif
