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
# package=version, and each package's SHA-256 per architecture.
packages=(libmnl-dev=1.0.5-3 libnftnl-dev=1.2.9-1)
declare -A sha256=(
  [libmnl-dev:amd64]=7f9a7c3f470ec400171981816df189ec86b11083c3f8d391d0800ed09a87bfc3
  [libmnl-dev:arm64]=046ecea98bfb827fffdc9a19c3efd75b9862995e3532987a9272787e70a3a9b6
  [libnftnl-dev:amd64]=6379e99cfd0043a86b839ba10f4d5fca3613835fe0244dbb2532f5be86e775b8
  [libnftnl-dev:arm64]=1de432f83144f5e0c6badc5debeaccf3840020699f34aa9272a7f05f331c40e1
)
triplet=$([ "$arch" = arm64 ] && echo aarch64-linux-gnu || echo x86_64-linux-gnu)
out=$PWD/.build/static-deps/$arch
lib=$out/usr/lib/$triplet
if [ -f "$lib/libmnl.a" ] && [ -f "$lib/libnftnl.a" ]; then echo "$lib"; exit 0; fi
# The Debian archive the host already uses (its first deb URI), with trixie instead of bookworm.
uri=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | awk '/^URIs:/ && !/security/ { print $2; exit } /^deb / && !/security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' || true)
[ -n "$uri" ] || { echo "fetch-static-libs: no Debian archive found in the host's apt sources" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" > "$work/sources.list"
apt_options=(-o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$work/lists"
  -o Dir::Cache="$work/cache" -o Dir::State::status=/dev/null -o APT::Architectures::="$arch" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${apt_options[@]}" update -qq >&2
mkdir -p "$out"
for entry in "${packages[@]}"; do
  package=${entry%%=*}
  (cd "$work" && apt-get "${apt_options[@]}" download -qq "$package:$arch=${entry#*=}" >&2)
  deb=$(ls "$work"/"${package}"_*_"$arch".deb)
  actual=$(sha256sum "$deb" | cut -d' ' -f1)
  expected=${sha256[$package:$arch]}
  if [ "$actual" != "$expected" ]; then
    echo "fetch-static-libs: $(basename "$deb") has SHA-256 $actual, expected $expected" >&2
    exit 1
  fi
  dpkg -x "$deb" "$out"
done
for archive in libmnl.a libnftnl.a; do
  [ -f "$lib/$archive" ] || { echo "fetch-static-libs: no $archive in the packages" >&2; exit 1; }
done
echo "$lib"
