#!/usr/bin/env bash
# Memory of one plugin process at its end, ours and the reference's, split the way the kernel
# accounts it (/proc/PID/smaps_rollup): Rss counts the binary's and libraries' pages read from
# the page cache (clean, shared by every process running the same file, reclaimable);
# Anonymous/Private_Dirty is the memory the process itself dirtied, which is what each
# concurrent plugin really costs the node. The process is held at exit_group by strace.
# Usage (as root): bench/memory.sh [OURS_DIR] [REFERENCE_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
OURS=${1:-$PWD/.build/release}
REF=${2:-/usr/lib/cni}
command -v strace >/dev/null || { echo "memory: apt-get install strace" >&2; exit 1; }
# A binary written moments ago still has dirty page-cache pages, which smaps counts as the
# process's Private_Dirty: write them back first.
sync
P=scni-mem-$$
cleanup() { ip netns delete "$P-host" 2>/dev/null || true; ip netns delete "$P-ctr" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$P-host"; ip netns add "$P-ctr"
ip -n "$P-host" link add up0 type veth peer name up0p; ip -n "$P-host" link set up0 up

measure() { # measure DIR COMMAND CONFIG
  local dir=$1 command=$2 config=$3 pid=""
  echo "$config" | ip netns exec "$P-host" env CNI_COMMAND="$command" CNI_CONTAINERID=mem CNI_NETNS="/run/netns/$P-ctr" \
      CNI_IFNAME=eth0 CNI_PATH="$dir" strace -f -o /dev/null -e trace=exit_group -e inject=exit_group:delay_enter=1500000 \
      "$dir/macvlan" > /dev/null &
  # Wait until the plugin sits in exit_group (syscall 231 on x86_64), held there by strace.
  for _ in $(seq 1 50); do
    pid=$(pgrep -n -f "^$dir/macvlan" || true)
    [ -n "$pid" ] && [ "$(cut -d' ' -f1 "/proc/$pid/syscall" 2>/dev/null)" = 231 ] && break
    sleep 0.05
  done
  awk '/^Rss:/{r=$2} /^Anonymous:/{a=$2} /^Private_Dirty:/{d=$2} END{printf "%8d KiB %12d KiB %15d KiB\n", r, a, d}' "/proc/$pid/smaps_rollup"
  wait
}
config='{"cniVersion":"1.0.0","name":"memnet","type":"macvlan","master":"up0","ipam":{"type":"static","addresses":[{"address":"10.88.0.10/24"}]}}'
printf '%-28s %12s %16s %19s\n' "process at exit" "Rss" "Anonymous" "Private_Dirty"
for side in ours reference; do
  dir=$OURS; [ $side = reference ] && dir=$REF
  printf '%-28s %s\n' "$side macvlan VERSION" "$(measure "$dir" VERSION '{"cniVersion":"1.0.0"}')"
  printf '%-28s %s\n' "$side macvlan ADD" "$(measure "$dir" ADD "$config")"
  printf '%-28s %s\n' "$side macvlan DEL" "$(measure "$dir" DEL "$config")"
done
