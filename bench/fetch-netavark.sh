#!/usr/bin/env bash
# Fetches Podman 5's network backend, netavark 1.14 (Debian 13), for the bench's comparison:
# netavark and the glibc and libgcc it needs (glibc 2.39+, newer than Debian 12's), downloaded
# with a private apt configuration (the host's sources and state are not touched), checked
# against pinned SHA-256s and unpacked with dpkg -x under .build/bench-deps/netavark-1.14/.
# cni-bench runs it through that glibc's loader (--netavark-root).
# Usage: bench/fetch-netavark.sh        prints the unpacked root
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/.build/bench-deps/netavark-1.14
if [ -x "$out/usr/lib/podman/netavark" ] && [ -e "$out/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ]; then
  echo "$out"
  exit 0
fi
source integration/cross/debian-archive.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trixie_apt "$work" amd64
apt-get "${apt_options[@]}" update -qq >&2
rm -rf "$out"
fetch_pinned "$work" "$out" amd64 \
  netavark=1.14.0-2=34820688e7c671e746d88d109d4f7a34ffbb4a013b7dd2035d2762baf8e50a79 \
  libc6=2.41-12+deb13u5=b59b0625cd1a791375d40dab23a4d5d3d0641e3d0a773501becdc3725b7f99cf \
  libgcc-s1=14.2.0-19=3c71917b490d1a17aed43196a2787a256ecf060526cdb20216a74bedc061b150
echo "$out"
