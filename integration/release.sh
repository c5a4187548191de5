#!/usr/bin/env bash
# Builds a release into dist/ (the one download: Debian 13's libmnl.a, see build-static.sh):
#   dist/bin/                                   the eight plugin names, hard links of one stripped,
#                                               fully static binary (DYNAMIC=1: the glibc + libmnl.so build)
#   dist/swift-cni-<version>-linux-amd64.tgz    bin/ (hard links kept), install.sh, systemd units, docs,
#                                               README, CHANGELOG, LICENSE; and its .sha256
#   dist/swift-cni-<version>-image.tar          the installer image (OCI archive; see integration/image/)
# usage: integration/release.sh [--bin-only] [--no-image] [--dist DIR] [--scratch-path DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
version=$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' Sources/CNI/BuildInfo.swift)
[ -n "$version" ] || { echo "release.sh: no version in Sources/CNI/BuildInfo.swift" >&2; exit 1; }
dist=$PWD/dist
scratch=""
bin_only=0
image=1
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-only) bin_only=1; shift ;;
    --no-image) image=0; shift ;;
    --dist) dist=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
    --scratch-path) scratch=$2; shift 2 ;;
    *) echo "release.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
names=(macvlan ipvlan vlan bridge host-local static dhcp loopback)
scratch_args=()
[ -n "$scratch" ] && scratch_args=(--scratch-path "$scratch")

if [ "${DYNAMIC:-0}" = 1 ]; then
  bash integration/build-release.sh --product swift-cni "${scratch_args[@]}" >&2
  binary=$(swift build -c release --show-bin-path "${scratch_args[@]}")/swift-cni
else
  binary=$(bash integration/build-static.sh --scratch-path "${scratch:-.build-static}")
fi

# One stripped file (symbols are most of the size; the installed dir must stay under 12 MiB),
# hard-linked under every name.
rm -rf "$dist/bin"
mkdir -p "$dist/bin"
# Reproducible: no GNU build-id and no .swift_modhash (module hashes that change with every
# clean build; only debuggers read them); with the commit's date in the build identity
# (build-static.sh), two builds of one commit give the same bytes, whatever their paths.
strip --strip-all --remove-section=.swift_modhash --remove-section=.note.gnu.build-id \
  -o "$dist/bin/${names[0]}" "$binary"
chmod 0755 "$dist/bin/${names[0]}"
for name in "${names[@]:1}"; do ln "$dist/bin/${names[0]}" "$dist/bin/$name"; done
echo "release.sh: $dist/bin: ${names[*]} ($(stat -c %s "$dist/bin/${names[0]}") bytes, one file)" >&2
[ "$bin_only" = 1 ] && exit 0

base=swift-cni-$version
stage=$dist/stage
rm -rf "$stage"
mkdir -p "$stage/$base"
cp -a "$dist/bin" "$stage/$base/bin"
cp -a systemd docs deploy conf-examples README.md CHANGELOG.md LICENSE NOTICE "$stage/$base/"
cp integration/install.sh "$stage/$base/install.sh"
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
tarball=$base-linux-amd64.tgz
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$stage" -cf - "$base" | gzip -n -9 > "$dist/$tarball"
(cd "$dist" && sha256sum "$tarball" > "$tarball.sha256")
echo "release.sh: $dist/$tarball ($(stat -c %s "$dist/$tarball") bytes), $tarball.sha256" >&2

if [ "$image" = 1 ]; then
  bash integration/image/build.sh "$stage/$base" "$version" "$dist/$base-image.tar" "$epoch" \
    "$(git rev-parse HEAD 2>/dev/null || echo unknown)" >&2
fi
