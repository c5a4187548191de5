#!/usr/bin/env bash
# Builds a release into dist/, for amd64 and arm64 (the downloads: Debian 13's libmnl.a, and for
# arm64 the trixie chroot, sysroot and compiler of integration/cross/setup-arm64.sh):
#   dist/bin/, dist/bin-arm64/                  the plugin names (the binary's --list), hard links of one stripped,
#                                               fully static binary (amd64, arm64)
#   dist/swift-cni-<version>-linux-<arch>.tgz   bin/ (hard links kept), install.sh, systemd units, docs,
#                                               deploy/, conf-examples/, README, CHANGELOG, LICENSE,
#                                               NOTICE; and its .sha256, for each architecture
#   dist/swift-cni-<version>-image.tar          the installer image: an OCI archive holding an image
#                                               index (linux/amd64, linux/arm64); its digest in .digest
# usage: integration/release.sh [--arch amd64|arm64]... [--bin-only] [--no-image] [--dist DIR]
#                               [--scratch-path DIR]
# DYNAMIC=1: amd64 only, the glibc + libmnl.so build, no image (the image holds no libraries).
# SWIFT_CNI_SOURCE_URL: the repository, for the image's org.opencontainers.image.source label.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
version=$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' Sources/CNI/BuildInfo.swift)
[ -n "$version" ] || { echo "release.sh: no version in Sources/CNI/BuildInfo.swift" >&2; exit 1; }
dist=$PWD/dist
scratch=""
bin_only=0
image=1
arches=()
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) case "$2" in amd64 | arm64) arches+=("$2") ;; *) echo "release.sh: --arch amd64 or arm64" >&2; exit 2 ;; esac; shift 2 ;;
    --bin-only) bin_only=1; shift ;;
    --no-image) image=0; shift ;;
    --dist) dist=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
    --scratch-path) scratch=$2; shift 2 ;;
    *) echo "release.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64)
if [ "${DYNAMIC:-0}" = 1 ]; then arches=(amd64); image=0; fi
scratch_args=()
[ -n "$scratch" ] && scratch_args=(--scratch-path "$scratch")
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
base=swift-cni-$version
image_entries=()

for arch in "${arches[@]}"; do
  bin=$dist/bin
  [ "$arch" = amd64 ] || bin=$dist/bin-$arch
  if [ "$arch" = arm64 ]; then
    binary=$(bash integration/cross/build-static-arm64.sh --scratch-path "${scratch:-.build-arm64}/arm64")
    busybox=$(bash integration/cross/setup-arm64.sh)/guest-arm64/usr/bin/busybox
  elif [ "${DYNAMIC:-0}" = 1 ]; then
    bash integration/build-release.sh --product swift-cni "${scratch_args[@]}" >&2
    binary=$(swift build -c release --show-bin-path "${scratch_args[@]}")/swift-cni
  else
    binary=$(bash integration/build-static.sh --scratch-path "${scratch:-.build-static}")
    busybox=/bin/busybox
  fi

  # The names are the binary's own registry (`swift-cni --list`); arm64's through qemu-user.
  if [ "$arch" = arm64 ]; then
    mapfile -t names < <(qemu-aarch64-static "$binary" --list)
  else
    mapfile -t names < <("$binary" --list)
  fi
  [ ${#names[@]} -gt 0 ] || { echo "release.sh: $binary --list names no plugin" >&2; exit 1; }

  # One stripped file (symbols are most of the size; the installed dir must stay under 12 MiB),
  # hard-linked under every name. Reproducible: no GNU build-id and no .swift_modhash (module
  # hashes that change with every clean build; only debuggers read them); with the commit's
  # date in the build identity (build-stamp.sh), two builds of one commit give the same bytes,
  # whatever their paths. Debian's strip reads the host's architecture only: arm64 has its own.
  rm -rf "$bin"
  mkdir -p "$bin"
  strip=strip
  [ "$arch" = arm64 ] && strip=aarch64-linux-gnu-strip
  "$strip" --strip-all --remove-section=.swift_modhash --remove-section=.note.gnu.build-id \
    -o "$bin/${names[0]}" "$binary"
  chmod 0755 "$bin/${names[0]}"
  for name in "${names[@]:1}"; do ln "$bin/${names[0]}" "$bin/$name"; done
  echo "release.sh: $bin: ${names[*]} ($arch, $(stat -c %s "$bin/${names[0]}") bytes, one file)" >&2
  [ "$bin_only" = 1 ] && continue

  stage=$dist/stage/$arch
  rm -rf "$stage"
  mkdir -p "$stage/$base"
  cp -a "$bin" "$stage/$base/bin"
  cp -a systemd docs deploy conf-examples README.md CHANGELOG.md LICENSE NOTICE "$stage/$base/"
  cp integration/install.sh "$stage/$base/install.sh"
  tarball=$base-linux-$arch.tgz
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$stage" -cf - "$base" \
    | gzip -n -9 > "$dist/$tarball"
  (cd "$dist" && sha256sum "$tarball" > "$tarball.sha256")
  echo "release.sh: $dist/$tarball ($(stat -c %s "$dist/$tarball") bytes), $tarball.sha256" >&2
  image_entries+=("$arch=$stage/$base=$busybox")
done

if [ "$bin_only" = 0 ] && [ "$image" = 1 ]; then
  bash integration/image/build.sh "$version" "$dist/$base-image.tar" "$epoch" \
    "$(git rev-parse HEAD 2>/dev/null || echo unknown)" "${image_entries[@]}" >&2
fi
