// libnftnl (netfilter.org's nf_tables object library, on top of libmnl) and the uapi
// constants of nf_tables that arrive as macros, as static inline functions Swift can call.
#ifndef SWIFT_CNI_CNFTNL_SHIM_H
#define SWIFT_CNI_CNFTNL_SHIM_H

// The same order as CMnl's shim (glibc's netinet/in.h before any linux/ header), so that the
// structures both modules see are defined the same way.
#include <sys/socket.h>
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <stddef.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_nat.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/expr.h>
#include <libnftnl/udata.h>

/// The batch's framing messages (NFNL_MSG_BATCH_BEGIN / END) for the nf_tables subsystem.
static inline uint32_t cnftnl_subsys_nftables(void) { return NFNL_SUBSYS_NFTABLES; }

/// The message type of an nf_tables message (subsystem << 8 | message), as nft sends it.
static inline uint16_t cnftnl_message_type(uint16_t message) {
    return (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | message);
}

/// NF_NAT_RANGE_PROTO_SPECIFIED: a NAT expression with a port.
static inline uint32_t cnftnl_nat_range_proto_specified(void) { return NF_NAT_RANGE_PROTO_SPECIFIED; }

#endif
