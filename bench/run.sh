#!/usr/bin/env bash
# Benchmarks swift-cni against the reference Go plugins (Debian's containernetworking-plugins,
# /usr/lib/cni) in one run, interleaved, and prints a table of medians and ratios.
# Usage (as root): bench/run.sh [CYCLES]        (default 50)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/lib/cni/macvlan ] || { echo "bench: install the reference plugins: apt-get install containernetworking-plugins" >&2; exit 1; }
bash integration/build-release.sh >/dev/null
BIN=$(swift build -c release --show-bin-path)
"$BIN/cni-bench" --ours "$BIN" --reference /usr/lib/cni --cycles "${1:-50}"
echo
bash bench/memory.sh "$BIN" /usr/lib/cni
