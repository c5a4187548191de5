#!/usr/bin/env bash
# Prepares, once, everything the arm64 release build and the arm64 VM suite need, from Debian
# 13 (trixie) packages, on this amd64 Debian 12 machine (nothing is installed on the host):
#
#   $CROSS_CACHE/trixie-amd64   a trixie chroot (debootstrap minbase) with Debian's swiftlang,
#                               the compiler: it needs glibc >= 2.38, which Debian 12 lacks
#   $CROSS_CACHE/sysroot-arm64  the aarch64 sysroot: libc6-dev, linux-libc-dev, libgcc/libstdc++,
#                               libmnl-dev and libnftnl-dev (libmnl.a, libnftnl.a) and the static Swift runtime taken out of
#                               swiftlang:arm64 of exactly the chroot's version
#   $CROSS_CACHE/guest-arm64    the arm64 VM's root: busybox, iproute2, dnsmasq, nftables,
#                               iptables and Debian's linux-image-arm64 (kernel and modules)
#
# Idempotent: each tree is made once (a .done marker), removed and remade if its step fails.
# Cost on a fresh machine: about 1.2 GB of downloads and 4 minutes. The chroot's /proc is
# mounted only while apt runs in it.
# Usage: integration/cross/setup-arm64.sh        prints $CROSS_CACHE
set -euo pipefail
cd "$(dirname "$0")/../.."
source integration/cross/debian-archive.sh
CACHE=${CROSS_CACHE:-/var/tmp/swift-cni-cross}
mkdir -p "$CACHE"
chroot_dir=$CACHE/trixie-amd64
sysroot=$CACHE/sysroot-arm64
guest=$CACHE/guest-arm64
log() { echo "setup-arm64: $*" >&2; }

if [ ! -f "$chroot_dir/.done" ]; then
  log "debootstrap trixie into $chroot_dir"
  rm -rf "$chroot_dir"
  debootstrap --variant=minbase trixie "$chroot_dir" "$debian_uri" >&2
  mount -t proc proc "$chroot_dir/proc"
  trap 'umount "$chroot_dir/proc" 2>/dev/null || true' EXIT
  log "installing swiftlang in the chroot"
  chroot "$chroot_dir" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    swiftlang libc6-dev pkg-config >&2
  chroot "$chroot_dir" apt-get clean
  umount "$chroot_dir/proc"
  trap - EXIT
  touch "$chroot_dir/.done"
fi
swift_version=$(chroot "$chroot_dir" dpkg-query -W -f='${Version}' swiftlang)

# What the sysroot holds; a sysroot made from another list is made again.
sysroot_packages=(libc6-dev:arm64 libc6:arm64 linux-libc-dev libgcc-14-dev:arm64 libstdc++-14-dev:arm64 libgcc-s1:arm64
  libstdc++6:arm64 libmnl-dev:arm64 libmnl0:arm64 libnftnl-dev:arm64 libnftnl11:arm64)
if [ "$(cat "$sysroot/.done" 2>/dev/null)" != "${sysroot_packages[*]}" ]; then
  log "aarch64 sysroot (swiftlang:arm64=$swift_version) into $sysroot"
  rm -rf "$sysroot"
  work=$(mktemp -d)
  trixie_apt "$work" arm64
  apt-get "${apt_options[@]}" update -qq >&2
  mkdir -p "$work/debs" "$sysroot"
  (cd "$work/debs" && apt-get "${apt_options[@]}" download -qq "${sysroot_packages[@]}" >&2)
  for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$sysroot"; done
  # The static Swift runtime and clang's headers, from the arm64 compiler package: only its
  # data, never its (arm64) executables.
  (cd "$work" && apt-get "${apt_options[@]}" download -qq "swiftlang:arm64=$swift_version" >&2)
  mkdir -p "$work/swift"
  dpkg -x "$work"/swiftlang_*_arm64.deb "$work/swift"
  cp -a "$work/swift/usr/libexec/swift/lib/swift_static" "$work/swift/usr/libexec/swift/lib/clang" "$sysroot/usr/lib/"
  # 6.0.3's static-executable-args.lnk names ICU archives it does not ship; nothing of ours uses ICU.
  for name in icui18nswift icuucswift icudataswift; do
    [ -e "$sysroot/usr/lib/swift_static/linux/lib$name.a" ] || printf '!<arch>\n' > "$sysroot/usr/lib/swift_static/linux/lib$name.a"
  done
  [ -e "$sysroot/lib" ] || ln -s usr/lib "$sysroot/lib"
  rm -rf "$work"
  echo "${sysroot_packages[*]}" > "$sysroot/.done"
fi

# What the guest root holds; a root made from another list is made again.
guest_packages=(busybox-static:arm64 iproute2:arm64 dnsmasq-base:arm64 nftables:arm64 iptables:arm64 kmod:arm64
  dash:arm64 linux-image-arm64:arm64 bash:arm64 coreutils:arm64 grep:arm64 sed:arm64 jq:arm64)
if [ "$(cat "$guest/.done" 2>/dev/null)" != "${guest_packages[*]}" ]; then
  log "arm64 VM root into $guest"
  rm -rf "$guest"
  work=$(mktemp -d)
  trixie_apt "$work" arm64
  apt-get "${apt_options[@]}" update -qq >&2
  unpack_closure "$work" "$guest" "${guest_packages[@]}"
  # Debian 13 keeps /bin, /sbin and /lib in /usr: the packages' files are there already.
  for dir in bin sbin lib; do [ -e "$guest/$dir" ] || ln -s "usr/$dir" "$guest/$dir"; done
  mkdir -p "$guest"/{proc,sys,dev,run,tmp,root,var/lib/misc,etc}
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$guest/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$guest/etc/group"
  # The module index the packages' scripts would have made (kmod reads arm64 modules here).
  for kver in $(ls "$guest/usr/lib/modules"); do depmod -b "$guest/usr" "$kver"; done
  rm -rf "$work"
  echo "${guest_packages[*]}" > "$guest/.done"
fi
echo "$CACHE"
