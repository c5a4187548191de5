#!/usr/bin/env bash
# Benchmarks swift-cni against the reference Go plugins (Debian's containernetworking-plugins,
# /usr/lib/cni) in one run, interleaved, and prints a table of medians and ratios.
# Usage (as root): bench/run.sh [CYCLES]        (default 50)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/lib/cni/macvlan ] || { echo "bench: install the reference plugins: apt-get install containernetworking-plugins" >&2; exit 1; }
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
bash integration/build-release.sh >/dev/null
BIN=$(swift build -c release --show-bin-path)
# Ours as a node installs them: the release's multi-call binary under the plugin names, put in
# a fresh bin dir by our installer (a copy, as a node's install, package or image layer makes).
# Not dist/bin itself: the file strip wrote there execs 0.15-0.2 ms slower than a copy of the
# same bytes (measured: the page cache holds the two differently), which no node runs.
bash integration/release.sh --bin-only 2>/dev/null
INSTALLED=$(mktemp -d /tmp/swift-cni-bench.XXXXXX)
trap 'rm -rf "$INSTALLED"' EXIT
sh integration/install.sh --from "$PWD/dist/bin" --dest "$INSTALLED/bin" >/dev/null
OURS=$INSTALLED/bin
# The C floor: the kernel work of a macvlan ADD in one process (bench/c-floor.c, libmnl).
FLOOR=$PWD/.build/c-floor
gcc -O2 -o "$FLOOR" bench/c-floor.c -lmnl
"$BIN/cni-bench" --ours "$OURS" --reference /usr/lib/cni --cycles "${1:-50}" --c-floor "$FLOOR"
# Podman 5's network backend, Debian 13's netavark 1.14 (through its own glibc), with each of
# its firewall drivers, against our bridge + ipMasq on each of our backends.
NETAVARK=$(bash bench/fetch-netavark.sh)
for driver in nftables iptables; do
  "$BIN/cni-bench" --ours "$OURS" --netavark-only --netavark-root "$NETAVARK" --netavark-firewall "$driver" \
    --cycles "${1:-50}"
done
echo
bash bench/memory.sh "$OURS" /usr/lib/cni
echo
# Where our ADD and DEL time goes, by syscall (under strace: read the split, not the totals).
python3 bench/phases.py --ours "$OURS" --cycles 5
