#!/usr/bin/env bash
# Builds the installer image offline (FROM scratch: no registry is asked for anything), one
# image per architecture, and saves them as one OCI archive holding an image index
# (linux/amd64, linux/arm64): a node pulls or loads the image of its own architecture. Each
# image holds a static busybox of its architecture (for the POSIX installer) and the release
# under /swift-cni (a static binary: no library), so it runs the installer (its entrypoint) and
# the plugins themselves (`dhcp daemon` in deploy/kubernetes/dhcp-daemon.yaml).
#   integration/image/build.sh VERSION OUTPUT.tar EPOCH REVISION ARCH=RELEASE_DIR=BUSYBOX...
# e.g. amd64=dist/stage/amd64/swift-cni-0.2.0=/bin/busybox. EPOCH (seconds) is each image's
# creation time and its files' times, so two builds of one release give the same image IDs and
# the same index digest (written to OUTPUT.tar's name with .digest); REVISION (the commit) goes
# in the OCI labels. The archive's index is named localhost/swift-cni:VERSION, which
# `podman load` gives the image of the host's architecture. Podman's storage is a temporary
# directory removed afterwards (vfs driver: works where overlay mounts are not allowed).
# No RUN step: building for another architecture needs no emulator.
set -euo pipefail
[ $# -ge 5 ] || { echo "usage: $0 VERSION OUTPUT.tar EPOCH REVISION ARCH=RELEASE_DIR=BUSYBOX..." >&2; exit 2; }
version=$1 output=$2 epoch=$3 revision=$4
shift 4
cd "$(dirname "$0")/../.."
command -v podman >/dev/null || { echo "image: podman is missing (apt-get install podman)" >&2; exit 1; }
# Podman's store is this build's alone, in a short path: its run root (where its sockets live)
# must be at most 50 characters, which a directory under the checkout need not be.
store=$(mktemp -d /tmp/scni-podman.XXXXXX)
contexts=$(mktemp -d)
trap 'rm -rf "$contexts" "$store"' EXIT
# The repository the image comes from, when the release names one (SWIFT_CNI_SOURCE_URL):
# the tree holds no URL of its own, and a label must not depend on where a clone came from.
source_label=()
[ -n "${SWIFT_CNI_SOURCE_URL:-}" ] && source_label=(--label "org.opencontainers.image.source=$SWIFT_CNI_SOURCE_URL")
podman=(podman --storage-driver vfs --root "$store/root" --runroot "$store/run")
list=localhost/swift-cni-index:$version
"${podman[@]}" manifest create "$list" >/dev/null
for entry in "$@"; do
  IFS== read -r arch release busybox <<< "$entry"
  file -L "$busybox" | grep -q "statically linked" \
    || { echo "image: $busybox is not a static busybox (apt-get install busybox-static)" >&2; exit 1; }
  file -L "$release/bin/macvlan" | grep -q "statically linked" \
    || { echo "image: $release/bin/macvlan is not a static binary (the image holds no libraries)" >&2; exit 1; }
  context=$contexts/$arch
  mkdir -p "$context/rootfs/bin" "$context/rootfs/swift-cni" "$context/rootfs/host/opt/cni/bin"
  cp "$busybox" "$context/rootfs/bin/busybox"
  for applet in sh cat chmod cmp cp dirname grep ln mkdir mv pwd rm sed sync; do
    ln -s busybox "$context/rootfs/bin/$applet"
  done
  cp -a "$release/." "$context/rootfs/swift-cni/"
  cp integration/image/Containerfile "$context/Containerfile"
  # --no-cache: two architectures' identical steps must not share a cached image.
  "${podman[@]}" build --quiet --no-cache --network none --pull=never --platform "linux/$arch" \
    --timestamp "$epoch" --identity-label=false \
    --label "org.opencontainers.image.title=swift-cni" --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$revision" --label "org.opencontainers.image.licenses=Apache-2.0" \
    "${source_label[@]}" \
    --label "org.opencontainers.image.description=CNI plugins in Swift: installer image" \
    -t "localhost/swift-cni:$version-$arch" -f "$context/Containerfile" "$context" >/dev/null
  "${podman[@]}" manifest add "$list" "containers-storage:localhost/swift-cni:$version-$arch" >/dev/null
done
rm -f "$output"
"${podman[@]}" manifest push --quiet --all --format oci "$list" "oci-archive:$output:localhost/swift-cni:$version"
# The index's digest, as a registry will name it: the same for two builds of one release.
digest=$(tar -xOf "$output" index.json | sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' | head -n 1)
echo "$digest" > "${output%.tar}.digest"
echo "image: $output (localhost/swift-cni:$version, index of $*, $(stat -c %s "$output") bytes, $digest)"
