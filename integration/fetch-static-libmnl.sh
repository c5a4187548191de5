#!/usr/bin/env bash
# Fetches libmnl.a for a fully static link: Debian 12's libmnl-dev ships only libmnl.so,
# Debian 13's (trixie) ships the archive. The package is downloaded with a private apt
# configuration (the host's sources and state are not touched), checked against a pinned
# SHA-256 and unpacked with dpkg -x under .build/static-deps/<arch>/.
# Usage: integration/fetch-static-libmnl.sh [amd64|arm64]      (default amd64)
# Prints the directory holding libmnl.a.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-amd64}
version=1.0.5-3
declare -A sha256=(
  [amd64]=7f9a7c3f470ec400171981816df189ec86b11083c3f8d391d0800ed09a87bfc3
  [arm64]=046ecea98bfb827fffdc9a19c3efd75b9862995e3532987a9272787e70a3a9b6
)
triplet=$([ "$arch" = arm64 ] && echo aarch64-linux-gnu || echo x86_64-linux-gnu)
out=$PWD/.build/static-deps/$arch
lib=$out/usr/lib/$triplet
if [ -f "$lib/libmnl.a" ]; then echo "$lib"; exit 0; fi
# The Debian archive the host already uses (its first deb URI), with trixie instead of bookworm.
uri=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | awk '/^URIs:/ && !/security/ { print $2; exit } /^deb / && !/security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' || true)
[ -n "$uri" ] || { echo "fetch-static-libmnl: no Debian archive found in the host's apt sources" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" > "$work/sources.list"
apt_options=(-o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$work/lists"
  -o Dir::Cache="$work/cache" -o Dir::State::status=/dev/null -o APT::Architectures::="$arch" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${apt_options[@]}" update -qq >&2
(cd "$work" && apt-get "${apt_options[@]}" download -qq "libmnl-dev:$arch=$version" >&2)
deb=$(ls "$work"/libmnl-dev_*_"$arch".deb)
actual=$(sha256sum "$deb" | cut -d' ' -f1)
expected=${sha256[$arch]}
if [ "$actual" != "$expected" ]; then
  echo "fetch-static-libmnl: $(basename "$deb") has SHA-256 $actual, expected $expected" >&2
  exit 1
fi
mkdir -p "$out"
dpkg -x "$deb" "$out"
[ -f "$lib/libmnl.a" ] || { echo "fetch-static-libmnl: no libmnl.a in $(basename "$deb")" >&2; exit 1; }
echo "$lib"
