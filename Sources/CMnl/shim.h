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
#include <linux/pkt_sched.h>
#include <linux/pkt_cls.h>
#include <linux/tc_act/tc_mirred.h>
#include <string.h>
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

/// Traffic control: handles and the fixed structs of the TBF qdisc, the u32 selector and the
/// mirred action, filled here so that Swift never lays them out by hand.
static inline uint32_t cmnl_tc_h_root(void) { return TC_H_ROOT; }
static inline uint32_t cmnl_tc_h_ingress(void) { return TC_H_INGRESS; }
static inline size_t cmnl_sizeof_tcmsg(void) { return sizeof(struct tcmsg); }
static inline size_t cmnl_tbf_qopt(uint32_t rate, uint32_t limit, uint32_t buffer, void *out) {
    struct tc_tbf_qopt opt;
    memset(&opt, 0, sizeof opt);
    opt.rate.rate = rate;
    opt.limit = limit;
    opt.buffer = buffer;
    memcpy(out, &opt, sizeof opt);
    return sizeof opt;
}
static inline int cmnl_tbf_qopt_read(const void *data, size_t length, uint32_t *rate, uint32_t *limit, uint32_t *buffer) {
    struct tc_tbf_qopt opt;
    if (length < sizeof opt) return -1;
    memcpy(&opt, data, sizeof opt);
    *rate = opt.rate.rate;
    *limit = opt.limit;
    *buffer = opt.buffer;
    return 0;
}
/// A u32 selector of one key that matches every packet (mask 0, value 0), terminal.
static inline size_t cmnl_u32_match_all(void *out) {
    struct { struct tc_u32_sel sel; struct tc_u32_key key; } match;
    memset(&match, 0, sizeof match);
    match.sel.flags = TC_U32_TERMINAL;
    match.sel.nkeys = 1;
    memcpy(out, &match, sizeof match);
    return sizeof match;
}
/// mirred: redirect to `ifindex`'s egress, the packet stolen from this path.
static inline size_t cmnl_mirred_redirect(uint32_t ifindex, void *out) {
    struct tc_mirred mirred;
    memset(&mirred, 0, sizeof mirred);
    mirred.action = TC_ACT_STOLEN;
    mirred.eaction = TCA_EGRESS_REDIR;
    mirred.ifindex = ifindex;
    memcpy(out, &mirred, sizeof mirred);
    return sizeof mirred;
}

#endif
