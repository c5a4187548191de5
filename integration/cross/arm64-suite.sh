#!/usr/bin/env bash
# The arm64 plugin suite: run inside the arm64 VM (VM_ARCH=arm64 integration/vm-run.sh) against
# a bin dir of the release's arm64 binaries, the way a runtime calls them. Real kernel objects
# in network namespaces this script makes (prefix a64-) and removes:
#   macvlan, ipvlan (l2), vlan and bridge, each with host-local: ADD, the container's address
#   and route, traffic between two containers (or to a peer on the VLAN), CHECK, DEL, DEL again;
#   an ADD with a bad config (CNI error JSON, code 7, nothing made); a DHCP lease from dnsmasq
#   through `dhcp daemon` on macvlan, and its RELEASE on DEL; a dual-stack (DHCPv4 + DHCPv6)
#   lease and its release.
# Prints one "ok"/"not ok" line per check and a summary; exits 1 if any check failed.
# Usage: arm64-suite.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: arm64-suite.sh BIN_DIR}" && pwd)
WORK=$(mktemp -d /tmp/a64.XXXXXX)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
passed=0 failed=0
check() { # check DESCRIPTION COMMAND...: one assertion
  local description=$1
  shift
  if "$@" > "$WORK/check.out" 2>&1; then
    passed=$((passed + 1)); echo "ok - $description"
  else
    failed=$((failed + 1)); echo "not ok - $description"; sed 's/^/#   /' "$WORK/check.out" | head -20
  fi
}
cleanup() {
  [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null
  [ -n "${DNSMASQ:-}" ] && kill "$DNSMASQ" 2>/dev/null
  for ns in $(ip netns list | cut -d' ' -f1 | grep '^a64-'); do ip netns delete "$ns"; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# cni PLUGIN COMMAND CONTAINER NETNS CONFIG: the plugin run from the host namespace a64-host;
# stdout in $WORK/out, exit status returned.
cni() {
  local plugin=$1 command=$2 container=$3 netns=$4 config=$5
  printf '%s' "$config" | ip netns exec a64-host env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$command" \
    CNI_CONTAINERID="$container" CNI_NETNS="/run/netns/$netns" CNI_IFNAME=eth0 CNI_PATH="$BIN" \
    "$BIN/$plugin" > "$WORK/out" 2> "$WORK/err"
}
config() { # config TYPE EXTRA-JSON SUBNET [prevResult-file]
  local prev=""
  [ -n "${4:-}" ] && prev=", \"prevResult\": $(cat "$4")"
  printf '{"cniVersion":"1.1.0","name":"a64-%s","type":"%s",%s,"ipam":{"type":"host-local","dataDir":"%s/ipam","ranges":[[{"subnet":"%s"}]]}%s}' \
    "$1" "$1" "$2" "$WORK" "$3" "$prev"
}
address_of() { jq -r '.ips[0].address' "$1" | cut -d/ -f1; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

ip netns add a64-host
in_ns a64-host ip link set lo up
in_ns a64-host ip link add up0 type veth peer name up0p
in_ns a64-host ip link set up0 up
ip netns add a64-peer
in_ns a64-host ip link set up0p netns a64-peer
in_ns a64-peer ip link set up0p up
in_ns a64-host ip address add 10.64.0.254/24 dev up0
in_ns a64-host ip route add default via 10.64.0.1

echo "# arm64: $(uname -m), kernel $(uname -r), $("$BIN/macvlan" --version 2>&1 | head -n 1)"
check "the binary is aarch64" test "$(uname -m)" = aarch64

# attach NAME TYPE EXTRA SUBNET: ADD in two containers, their addresses, traffic between them,
# CHECK with the prevResult, DEL, DEL again, nothing left in the host.
attach() {
  local name=$1 type=$2 extra=$3 subnet=$4 c
  for c in 1 2; do
    ip netns add "a64-$name$c"
    check "$name: ADD in container $c" cni "$type" ADD "$name-c$c" "a64-$name$c" "$(config "$type" "$extra" "$subnet")"
    cp "$WORK/out" "$WORK/$name$c.json"
    check "$name: container $c has the result's address on eth0" \
      sh -c "ip netns exec a64-$name$c ip -o address show dev eth0 | grep -qw '$(jq -r '.ips[0].address' "$WORK/$name$c.json")'"
  done
  check "$name: container 1 reaches container 2" \
    in_ns "a64-${name}1" busybox ping -c 1 -W 5 "$(address_of "$WORK/${name}2.json")"
  check "$name: CHECK" cni "$type" CHECK "$name-c1" "a64-${name}1" "$(config "$type" "$extra" "$subnet" "$WORK/${name}1.json")"
  for c in 1 2; do
    check "$name: DEL in container $c" cni "$type" DEL "$name-c$c" "a64-$name$c" "$(config "$type" "$extra" "$subnet")"
    check "$name: eth0 is gone from container $c" sh -c "! ip netns exec a64-$name$c ip link show eth0"
    check "$name: a second DEL succeeds" cni "$type" DEL "$name-c$c" "a64-$name$c" "$(config "$type" "$extra" "$subnet")"
    ip netns delete "a64-$name$c"
  done
  check "$name: the addresses are released" sh -c "! ls '$WORK/ipam/a64-$type' | grep -q '^10\.'"
}

attach macvlan macvlan '"master":"up0","mode":"bridge"' 10.64.1.0/24
attach ipvlan ipvlan '"master":"up0","mode":"l2"' 10.64.2.0/24
attach bridge bridge '"bridge":"a64br0","isGateway":true' 10.64.3.0/24
check "bridge: the bridge stays, with the gateway address" sh -c "ip netns exec a64-host ip -o address show dev a64br0 | grep -qw 10.64.3.1/24"

# vlan: one container on VLAN 42 of up0, a peer with VLAN 42 on up0p; another VLAN id must not reach it.
ip netns add a64-vlan1
check "vlan: ADD" cni vlan ADD vlan-c1 a64-vlan1 "$(config vlan '"master":"up0","vlanId":42' 10.64.4.0/24)"
cp "$WORK/out" "$WORK/vlan1.json"
in_ns a64-peer ip link add link up0p name up0p.42 type vlan id 42
in_ns a64-peer ip address add 10.64.4.200/24 dev up0p.42
in_ns a64-peer ip link set up0p.42 up
check "vlan: the container's link is VLAN 42" sh -c "ip netns exec a64-vlan1 ip -d link show eth0 | grep -q 'vlan protocol 802.1Q id 42'"
check "vlan: the container reaches the peer on VLAN 42" in_ns a64-vlan1 busybox ping -c 1 -W 5 10.64.4.200
check "vlan: CHECK" cni vlan CHECK vlan-c1 a64-vlan1 "$(config vlan '"master":"up0","vlanId":42' 10.64.4.0/24 "$WORK/vlan1.json")"
check "vlan: DEL" cni vlan DEL vlan-c1 a64-vlan1 "$(config vlan '"master":"up0","vlanId":42' 10.64.4.0/24)"
check "vlan: eth0 is gone" sh -c "! ip netns exec a64-vlan1 ip link show eth0"
ip netns delete a64-vlan1

# A bad config: the CNI error JSON, code 7, and nothing made.
ip netns add a64-bad
cni macvlan ADD bad-c1 a64-bad '{"cniVersion":"1.1.0","name":"a64-bad","type":"macvlan","master":"up0","mtu":70000,"ipam":{"type":"host-local","subnet":"10.64.9.0/24"}}'
status=$?
check "bad config: exit status 1" test "$status" = 1
check "bad config: error code 7 naming the MTU" sh -c "jq -e '.code == 7 and (.msg | test(\"mtu\"; \"i\"))' '$WORK/out' || { cat '$WORK/out'; false; }"
check "bad config: no link made in the container" sh -c "[ \$(ip netns exec a64-bad ip -o link show | wc -l) = 1 ]"
ip netns delete a64-bad

# DHCP: dnsmasq in a64-lan on the far end of up1; our daemon; a macvlan container leases an address.
ip netns add a64-lan
in_ns a64-host ip link add up1 type veth peer name up1p
in_ns a64-host ip link set up1 up
in_ns a64-host ip link set up1p netns a64-lan
in_ns a64-lan ip address add 10.64.7.1/24 dev up1p
in_ns a64-lan ip address add fd00:64::1/64 dev up1p nodad
in_ns a64-lan ip link set up1p up
in_ns a64-lan dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --interface=up1p --bind-interfaces \
  --except-interface=lo --dhcp-range=10.64.7.100,10.64.7.150,255.255.255.0,2m --dhcp-option=option:router,10.64.7.1 \
  --dhcp-range=fd00:64::100,fd00:64::1ff,64,2m --enable-ra --dhcp-rapid-commit \
  --dhcp-leasefile="$WORK/dnsmasq.leases" --pid-file= --user=root --no-ping --dhcp-authoritative \
  --log-dhcp --log-facility="$WORK/dnsmasq.log" &
DNSMASQ=$!
in_ns a64-host "$BIN/dhcp" daemon -socketpath "$WORK/dhcp.sock" -statedir "$WORK/dhcp-state" -timeout 10s \
  > "$WORK/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do [ -S "$WORK/dhcp.sock" ] && grep -q "DHCP, IP range" "$WORK/dnsmasq.log" 2>/dev/null && break; sleep 0.1; done
dhcp_config="{\"cniVersion\":\"1.1.0\",\"name\":\"a64-dhcp\",\"type\":\"macvlan\",\"master\":\"up1\",\"ipam\":{\"type\":\"dhcp\",\"daemonSocketPath\":\"$WORK/dhcp.sock\"}}"
ip netns add a64-dhcp1
check "dhcp: ADD leases an address from dnsmasq" cni macvlan ADD dhcp-c1 a64-dhcp1 "$dhcp_config"
leased=$(jq -r '.ips[0].address // empty' "$WORK/out" | cut -d/ -f1)
check "dhcp: the address is in dnsmasq's range and on eth0" sh -c "case '$leased' in 10.64.7.1[0-4][0-9]|10.64.7.150) ip netns exec a64-dhcp1 ip -o address show dev eth0 | grep -qw '$leased' ;; *) false ;; esac"
check "dhcp: dnsmasq holds the lease" grep -qw "$leased" "$WORK/dnsmasq.leases"
check "dhcp: the container reaches the server" in_ns a64-dhcp1 busybox ping -c 1 -W 5 10.64.7.1
check "dhcp: DEL" cni macvlan DEL dhcp-c1 a64-dhcp1 "$dhcp_config"
for _ in $(seq 50); do grep -qw "$leased" "$WORK/dnsmasq.leases" || break; sleep 0.1; done
check "dhcp: RELEASE reached dnsmasq (the lease is gone)" sh -c "! grep -qw '$leased' '$WORK/dnsmasq.leases'"
ip netns delete a64-dhcp1

# Dual stack: DHCPv4 and DHCPv6 (optimistic DAD, Rapid Commit) on one ADD, both released on DEL.
dual_config="{\"cniVersion\":\"1.1.0\",\"name\":\"a64-dual\",\"type\":\"macvlan\",\"master\":\"up1\",\"ipam\":{\"type\":\"dhcp\",\"daemonSocketPath\":\"$WORK/dhcp.sock\",\"ipFamilies\":[\"IPv4\",\"IPv6\"]}}"
ip netns add a64-dual1
check "dhcp dual stack: ADD" cni macvlan ADD dual-c1 a64-dual1 "$dual_config"
leased6=$(jq -r '.ips[] | select(.address | startswith("fd00:64::")) | .address' "$WORK/out" | cut -d/ -f1)
check "dhcp dual stack: an IPv4 and an IPv6 address in the result" sh -c "[ \$(jq '.ips | length' '$WORK/out') = 2 ] && [ -n '$leased6' ]"
check "dhcp dual stack: the IPv6 address is on eth0" sh -c "ip netns exec a64-dual1 ip -6 -o address show dev eth0 | grep -qw '$leased6'"
check "dhcp dual stack: dnsmasq holds the IPv6 lease" grep -qw "$leased6" "$WORK/dnsmasq.leases"
check "dhcp dual stack: DEL" cni macvlan DEL dual-c1 a64-dual1 "$dual_config"
for _ in $(seq 50); do grep -qw "$leased6" "$WORK/dnsmasq.leases" || break; sleep 0.1; done
check "dhcp dual stack: the IPv6 lease is released" sh -c "! grep -qw '$leased6' '$WORK/dnsmasq.leases'"
ip netns delete a64-dual1
[ "$failed" = 0 ] || { echo "# daemon log:"; sed 's/^/#   /' "$WORK/daemon.log" | tail -20; }

echo "# arm64 suite: $passed passed, $failed failed"
[ "$failed" = 0 ]
