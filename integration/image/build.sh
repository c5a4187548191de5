#!/usr/bin/env bash
# Builds the installer image offline (FROM scratch: no registry is asked for anything) and
# saves it as an OCI archive. It holds a static busybox and the release under /swift-cni (a
# static binary: no library), so it runs the installer (its entrypoint) and the plugins
# themselves (`dhcp daemon` in deploy/kubernetes/dhcp-daemon.yaml).
#   integration/image/build.sh RELEASE_DIR VERSION OUTPUT.tar [EPOCH [REVISION]]
# EPOCH (seconds; default SOURCE_DATE_EPOCH, else now) is the image's creation time and its
# files' times, so two builds of one release give the same image ID and manifest digest
# (written to OUTPUT.tar's name with .digest); REVISION (the commit) goes in the OCI labels.
# RELEASE_DIR is the unpacked release (bin/, install.sh, ...). Podman's storage is a temporary
# directory removed afterwards (vfs driver: works where overlay mounts are not allowed).
set -euo pipefail
release=$1 version=$2 output=$3
epoch=${4:-${SOURCE_DATE_EPOCH:-$(date +%s)}}
revision=${5:-unknown}
cd "$(dirname "$0")/../.."
command -v podman >/dev/null || { echo "image: podman is missing (apt-get install podman)" >&2; exit 1; }
[ -x /bin/busybox ] && file -L /bin/busybox | grep -q "statically linked" \
  || { echo "image: a static /bin/busybox is needed (apt-get install busybox-static)" >&2; exit 1; }
context=$(mktemp -d)
# Podman's store is this build's alone, in a short path: its run root (where its sockets live)
# must be at most 50 characters, which a directory under the checkout need not be.
store=$(mktemp -d /tmp/scni-podman.XXXXXX)
trap 'rm -rf "$context" "$store"' EXIT
mkdir -p "$context/rootfs/bin" "$context/rootfs/swift-cni" "$context/rootfs/host/opt/cni/bin"
cp /bin/busybox "$context/rootfs/bin/busybox"
for applet in sh cat chmod cmp cp dirname grep ln mkdir mv pwd rm sed sync; do
  ln -s busybox "$context/rootfs/bin/$applet"
done
cp -a "$release/." "$context/rootfs/swift-cni/"
# The shared libraries the plugins load, at the paths the loader looks in, so the image can also
# run them (the dhcp daemon's DaemonSet does): none for the static release, glibc's loader,
# libc, libm and libmnl for a DYNAMIC=1 one.
for library in $( (ldd "$release/bin/macvlan" 2>/dev/null || true) | grep -o '/[^ ]*'); do
  mkdir -p "$context/rootfs$(dirname "$library")"
  cp -L "$library" "$context/rootfs$library"
done
cp integration/image/Containerfile "$context/Containerfile"
tag=localhost/swift-cni:$version
podman=(podman --storage-driver vfs --root "$store/root" --runroot "$store/run")
"${podman[@]}" build --quiet --network none --pull=never --timestamp "$epoch" --identity-label=false \
  --label "org.opencontainers.image.title=swift-cni" --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" --label "org.opencontainers.image.licenses=Apache-2.0" \
  --label "org.opencontainers.image.description=CNI plugins in Swift: installer image" \
  -t "$tag" -f "$context/Containerfile" "$context" >/dev/null
rm -f "$output"
"${podman[@]}" save --quiet --format oci-archive -o "$output" "$tag"
# The manifest's digest, as a registry will name the image: the same for two builds of one release.
manifest=$(tar -xOf "$output" index.json | sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' | head -n 1)
echo "$manifest" > "${output%.tar}.digest"
echo "image: $output ($tag, $(stat -c %s "$output") bytes, $manifest)"
