#!/usr/bin/env bash
# Fetches the static archives of the C libraries the release links: libmnl.a (netlink) and
# libnftnl.a (nf_tables objects). Debian 12's -dev packages ship only shared libraries; Debian
# 13's (trixie) ship the archives. Each package is downloaded with a private apt configuration
# (the host's sources and state are not touched), checked against a pinned SHA-256 and
# unpacked with dpkg -x under .build/static-deps/<arch>/.
# Usage: integration/fetch-static-libs.sh [amd64|arm64]      (default amd64)
# Prints the directory holding libmnl.a and libnftnl.a.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-amd64}
declare -A pinned=(
  [amd64]="libmnl-dev=1.0.5-3=7f9a7c3f470ec400171981816df189ec86b11083c3f8d391d0800ed09a87bfc3
    libnftnl-dev=1.2.9-1=6379e99cfd0043a86b839ba10f4d5fca3613835fe0244dbb2532f5be86e775b8"
  [arm64]="libmnl-dev=1.0.5-3=046ecea98bfb827fffdc9a19c3efd75b9862995e3532987a9272787e70a3a9b6
    libnftnl-dev=1.2.9-1=1de432f83144f5e0c6badc5debeaccf3840020699f34aa9272a7f05f331c40e1"
)
triplet=$([ "$arch" = arm64 ] && echo aarch64-linux-gnu || echo x86_64-linux-gnu)
out=$PWD/.build/static-deps/$arch
lib=$out/usr/lib/$triplet
if [ -f "$lib/libmnl.a" ] && [ -f "$lib/libnftnl.a" ]; then echo "$lib"; exit 0; fi
source integration/cross/debian-archive.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trixie_apt "$work" "$arch"
apt-get "${apt_options[@]}" update -qq >&2
# shellcheck disable=SC2086
fetch_pinned "$work" "$out" "$arch" ${pinned[$arch]}
for archive in libmnl.a libnftnl.a; do
  [ -f "$lib/$archive" ] || { echo "fetch-static-libs: no $archive in the packages" >&2; exit 1; }
done
echo "$lib"
