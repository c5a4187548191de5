#!/usr/bin/env bash
# A plugin working end to end: two "containers" (network namespaces) get macvlan interfaces
# on a host namespace's uplink veth, with static addresses, and ping each other; then DEL.
# Everything happens in namespaces this script makes and deletes; the real host is untouched.
# Usage (as root, after a build): integration/demo.sh [BIN_DIR]
# BIN_DIR: a CNI bin dir (a release's bin/), or a build dir holding swift-cni (default
# .build/release), whose plugin names integration/plugin-links.sh lays out first.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-$PWD/.build/release}
[ -x "$BIN/macvlan" ] || BIN=$(bash integration/plugin-links.sh "$BIN")
P=swiftcni-demo-$$
cleanup() { for n in c1 c2 host; do ip netns delete "$P-$n" 2>/dev/null || true; done; }
trap cleanup EXIT
ip netns add "$P-host"; ip netns add "$P-c1"; ip netns add "$P-c2"
ip -n "$P-host" link add up0 type veth peer name up0p
ip -n "$P-host" link set up0 up; ip -n "$P-host" link set up0p up

config() {
  printf '{"cniVersion":"1.1.0","name":"demo","type":"macvlan","master":"up0","ipam":{"type":"static","addresses":[{"address":"%s/24","gateway":"10.77.0.1"}]}}' "$1"
}
cni() { # cni COMMAND CONTAINER ADDRESS
  config "$3" | ip netns exec "$P-host" env CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS="/run/netns/$P-$2" \
    CNI_IFNAME=eth0 CNI_PATH="$BIN" "$BIN/macvlan"
}
echo "== macvlan ADD into $P-c1 (the plugin prints its CNI result):"
cni ADD c1 10.77.0.11
cni ADD c2 10.77.0.12 >/dev/null
echo "== the interface inside the container:"
ip -n "$P-c1" -br addr show eth0
echo "== ping from c1 to c2:"
ip netns exec "$P-c1" ping -c 2 -W 1 10.77.0.12
echo "== DEL, twice (the second finds nothing and still succeeds):"
cni DEL c1 10.77.0.11 && cni DEL c1 10.77.0.11 && echo "DEL ok"
ip -n "$P-c1" -br link
