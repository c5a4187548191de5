/*
 * The floor for a macvlan ADD: the same kernel work as our plugin's ADD, done by one C process
 * through libmnl with nothing else — create the macvlan on MASTER directly in the container's
 * namespace (IFLA_NET_NS_FD), then inside it add an address, bring it up, add a route. Prints
 * the nanoseconds that took (the link is then deleted, untimed). cni-bench runs it against the
 * same namespaces as the plugins, so "our ADD minus the exec cost" can be compared to it.
 *   c-floor MASTER NETNS_PATH
 * Benchmark code only: not part of the plugins.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char buffer[8192];
static unsigned int sequence = 1;

static void transact(struct mnl_socket *socket, struct nlmsghdr *message) {
    message->nlmsg_seq = sequence++;
    message->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    if (mnl_socket_sendto(socket, message, message->nlmsg_len) < 0) { perror("send"); exit(1); }
    int length = (int)mnl_socket_recvfrom(socket, buffer, sizeof buffer);
    if (length < 0 || mnl_cb_run(buffer, (size_t)length, message->nlmsg_seq, mnl_socket_get_portid(socket), NULL, NULL) < 0) {
        perror("netlink"); exit(1);
    }
}

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: c-floor MASTER NETNS_PATH\n"); return 2; }
    int master = (int)if_nametoindex(argv[1]);
    int container = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (master == 0 || container < 0) { perror("master or netns"); return 1; }
    char request[4096];
    long long start = now_ns();

    struct mnl_socket *host = mnl_socket_open(NETLINK_ROUTE);
    mnl_socket_bind(host, 0, MNL_SOCKET_AUTOPID);
    struct nlmsghdr *message = mnl_nlmsg_put_header(request);
    message->nlmsg_type = RTM_NEWLINK;
    message->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    struct ifinfomsg *info = mnl_nlmsg_put_extra_header(message, sizeof *info);
    memset(info, 0, sizeof *info);
    mnl_attr_put_strz(message, IFLA_IFNAME, "cfloor0");
    mnl_attr_put_u32(message, IFLA_LINK, (uint32_t)master);
    mnl_attr_put_u32(message, IFLA_NET_NS_FD, (uint32_t)container);
    struct nlattr *linkinfo = mnl_attr_nest_start(message, IFLA_LINKINFO);
    mnl_attr_put_strz(message, IFLA_INFO_KIND, "macvlan");
    struct nlattr *data = mnl_attr_nest_start(message, IFLA_INFO_DATA);
    mnl_attr_put_u32(message, IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE);
    mnl_attr_nest_end(message, data);
    mnl_attr_nest_end(message, linkinfo);
    transact(host, message);

    if (setns(container, CLONE_NEWNET) != 0) { perror("setns"); return 1; }
    struct mnl_socket *inside = mnl_socket_open(NETLINK_ROUTE);
    mnl_socket_bind(inside, 0, MNL_SOCKET_AUTOPID);
    int index = (int)if_nametoindex("cfloor0");

    message = mnl_nlmsg_put_header(request);
    message->nlmsg_type = RTM_NEWADDR;
    message->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    struct ifaddrmsg *address = mnl_nlmsg_put_extra_header(message, sizeof *address);
    memset(address, 0, sizeof *address);
    address->ifa_family = AF_INET;
    address->ifa_prefixlen = 24;
    address->ifa_index = (unsigned int)index;
    struct in_addr ip;
    inet_pton(AF_INET, "10.84.0.2", &ip);
    mnl_attr_put(message, IFA_LOCAL, sizeof ip, &ip);
    mnl_attr_put(message, IFA_ADDRESS, sizeof ip, &ip);
    transact(inside, message);

    message = mnl_nlmsg_put_header(request);
    message->nlmsg_type = RTM_NEWLINK;
    info = mnl_nlmsg_put_extra_header(message, sizeof *info);
    memset(info, 0, sizeof *info);
    info->ifi_index = index;
    info->ifi_flags = IFF_UP;
    info->ifi_change = IFF_UP;
    transact(inside, message);

    message = mnl_nlmsg_put_header(request);
    message->nlmsg_type = RTM_NEWROUTE;
    message->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    struct rtmsg *route = mnl_nlmsg_put_extra_header(message, sizeof *route);
    memset(route, 0, sizeof *route);
    route->rtm_family = AF_INET;
    route->rtm_dst_len = 16;
    route->rtm_table = RT_TABLE_MAIN;
    route->rtm_protocol = RTPROT_BOOT;
    route->rtm_scope = RT_SCOPE_LINK;
    route->rtm_type = RTN_UNICAST;
    inet_pton(AF_INET, "10.99.0.0", &ip);
    mnl_attr_put(message, RTA_DST, sizeof ip, &ip);
    mnl_attr_put_u32(message, RTA_OIF, (uint32_t)index);
    transact(inside, message);

    long long elapsed = now_ns() - start;

    message = mnl_nlmsg_put_header(request);
    message->nlmsg_type = RTM_DELLINK;
    info = mnl_nlmsg_put_extra_header(message, sizeof *info);
    memset(info, 0, sizeof *info);
    info->ifi_index = index;
    transact(inside, message);
    printf("%lld\n", elapsed);
    return 0;
}
