#!/usr/bin/env bash
# integration/vm-run.sh — run one command inside a throw-away QEMU VM that boots Debian's
# stock kernel (linux-image-amd64 or linux-image-arm64: ipvlan, 8021q, dummy, bridge VLAN
# filtering, ... as modules), for the tests this host's kernel (or architecture) cannot run.
#
#   integration/vm-run.sh 'command'            exit status = the command's; 125 = the VM failed
#   VM_ARCH=arm64 integration/vm-run.sh 'command'
#
# How: a root is shared read-only over virtio-9p with a tmpfs overlay on top, a tiny busybox
# initramfs mounts that, loads the kernel modules, runs the command in a chroot, and sends its
# stdout, stderr and exit status back through virtio-serial ports. amd64: the root is the
# host's / (the guest sees the same binaries, our build outputs included, and writes nothing
# back). arm64 (qemu-system-aarch64, machine virt): the root is the Debian 13 arm64 tree that
# integration/cross/setup-arm64.sh makes (busybox, iproute2, dnsmasq, nftables, the kernel and
# its modules), and the current directory is shared too, read-only at the same path. KVM is
# not used (it cannot boot a stock kernel on this host); TCG boots amd64 in about 3.5 s.
#
# Environment: VM_ARCH (amd64), VM_KERNEL (default: newest vmlinuz of that root), VM_MEM (1G),
# VM_SMP (2), VM_TIMEOUT seconds (900), VM_MODULES (modules to load), VM_CACHE
# (/var/tmp/swift-cni-vm), VM_ROOT (arm64: the guest root; default from setup-arm64.sh's cache,
# CROSS_CACHE), VM_KEEP=1 keeps the run directory with the console log.
# Needs: qemu-system-x86 busybox-static cpio xz-utils kmod linux-image-amd64; for arm64
# qemu-system-arm (integration/install-deps.sh) and the tree setup-arm64.sh makes.
set -u
[ $# -ge 1 ] || { echo "usage: $0 'command'" >&2; exit 2; }
if [ $# -eq 1 ]; then COMMAND=$1; else COMMAND=$(printf '%q ' "$@"); fi

fail() { echo "vm-run: $*" >&2; exit 125; }

ARCH=${VM_ARCH:-amd64}
case "$ARCH" in
  amd64)
    GUEST=""
    QEMU=qemu-system-x86_64
    BUSYBOX=/bin/busybox
    CONSOLE=ttyS0
    ;;
  arm64)
    GUEST=${VM_ROOT:-${CROSS_CACHE:-/var/tmp/swift-cni-cross}/guest-arm64}
    [ -f "$GUEST/.done" ] || fail "no arm64 root at $GUEST (run integration/cross/setup-arm64.sh)"
    QEMU=qemu-system-aarch64
    BUSYBOX=$GUEST/usr/bin/busybox
    CONSOLE=ttyAMA0
    ;;
  *) fail "VM_ARCH must be amd64 or arm64, not $ARCH" ;;
esac
MODULE_ROOT=${GUEST:+$GUEST/usr}
KERNEL=${VM_KERNEL:-$(ls -1v "$GUEST"/boot/vmlinuz-* 2>/dev/null | tail -n 1)}
[ -n "$KERNEL" ] && [ -r "$KERNEL" ] || fail "no kernel image in $GUEST/boot (apt-get install linux-image-$ARCH)"
KVER=${KERNEL##*/vmlinuz-}
[ -d "${MODULE_ROOT:-}/lib/modules/$KVER" ] || fail "${MODULE_ROOT:-}/lib/modules/$KVER is missing"
command -v "$QEMU" >/dev/null || fail "$QEMU not found (apt-get install qemu-system-x86 qemu-system-arm)"
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' \
  || fail "a static busybox is needed at $BUSYBOX (apt-get install busybox-static)"
modprobe_root=()
[ -n "$MODULE_ROOT" ] && modprobe_root=(-d "$MODULE_ROOT")

CACHE=${VM_CACHE:-/var/tmp/swift-cni-vm}
mkdir -p "$CACHE" || fail "cannot create $CACHE"
SELF=$(realpath "$0")
INITRD=$CACHE/initrd-$ARCH-$KVER.cpio

build_initrd() {
  local dir
  dir=$(mktemp -d "$CACHE/initrd.XXXXXX") || fail "mktemp failed"
  mkdir -p "$dir"/{bin,dev,proc,sys,modules,lower,upper,newroot}
  cp "$BUSYBOX" "$dir/bin/busybox"
  # The modules the initramfs needs to reach the shared root, in dependency order.
  for module in virtio_pci virtio_console 9pnet_virtio 9p overlay; do
    modprobe "${modprobe_root[@]}" -S "$KVER" --show-depends "$module" || fail "modprobe cannot resolve $module for $KVER"
  done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r file; do
    name=$(basename "$file"); name=${name%.ko*}
    case "$file" in
      *.ko.xz) xz -dc "$file" > "$dir/modules/$name.ko" ;;
      *.ko.zst) zstd -dqc "$file" > "$dir/modules/$name.ko" ;;
      *) cp "$file" "$dir/modules/$name.ko" ;;
    esac
    echo "$name" >> "$dir/modules/order"
  done
  cat > "$dir/init" <<'INIT'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
say() { echo "vm-init: $*" > /dev/console; }
die() { say "$*"; $B sleep 1; $B poweroff -f; }
for m in $($B cat /modules/order); do $B insmod /modules/$m.ko || say "insmod $m failed"; done
param() { $B sed -n "s/.*\bvmrun\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
$B mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /lower || die "9p mount failed"
$B mount -t tmpfs -o mode=755 tmpfs /upper
$B mkdir -p /upper/data /upper/work
$B mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /newroot || die "overlay mount failed"
R=/newroot
$B mount -t proc proc $R/proc
$B mount -t sysfs sysfs $R/sys
$B mount -t devtmpfs devtmpfs $R/dev
$B mkdir -p $R/dev/pts $R/dev/shm
$B mount -t devpts devpts $R/dev/pts
$B mount -t tmpfs tmpfs $R/dev/shm
$B mount -t tmpfs -o mode=755 tmpfs $R/run
$B mkdir -p $R/run/netns $R/run/lock
n=0
for share in $(param shares | $B tr , ' '); do
  $B mkdir -p $R$share
  $B mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose share$n $R$share || die "9p mount of $share failed"
  n=$((n + 1))
done
port() { for p in /sys/class/virtio-ports/*; do [ "$($B cat $p/name)" = "$1" ] && echo /dev/${p##*/}; done; }
OUT=$(port vmrun.out); ERR=$(port vmrun.err); RC=$(port vmrun.rc)
[ -n "$OUT" ] && [ -n "$ERR" ] && [ -n "$RC" ] || die "virtio-serial ports missing"
$B hostname swift-cni-vm
for m in $(param modules | $B tr , ' '); do
  $B chroot $R /sbin/modprobe "$m" 2> $ERR || echo "vm-run: modprobe $m failed" > $ERR
done
$B chroot $R /bin/sh -c 'cd "$1" 2>/dev/null || cd /; export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; . "$2"' \
  vmrun "$(param cwd)" "$(param cmd)" < /dev/null > $OUT 2> $ERR
echo "VMRUN_RC=$?" > $RC
$B sync
$B poweroff -f
INIT
  chmod +x "$dir/init"
  (cd "$dir" && find . | cpio -o -H newc --quiet) > "$INITRD.tmp" && mv "$INITRD.tmp" "$INITRD"
  rm -rf "$dir"
}
if [ ! -s "$INITRD" ] || [ "$SELF" -nt "$INITRD" ]; then build_initrd; fi
[ -s "$INITRD" ] || fail "could not build the initramfs"

# QEMU boots an uncompressed vmlinux through its PVH entry, skipping the BIOS and the
# in-guest decompression (about 3 s under TCG): unpack it once from the xz payload.
BOOT=$KERNEL
VMLINUX=$CACHE/vmlinux-$KVER
if [ "$ARCH" = amd64 ] && [ ! -s "$VMLINUX" ]; then
  offset=$(LC_ALL=C grep -aboP '\xfd7zXZ\x00' "$KERNEL" | head -n 1 | cut -d: -f1)
  if [ -n "$offset" ]; then
    tail -c +$((offset + 1)) "$KERNEL" | xz -dcq > "$VMLINUX.tmp" 2>/dev/null
    if head -c 4 "$VMLINUX.tmp" | grep -q ELF; then mv "$VMLINUX.tmp" "$VMLINUX"; else rm -f "$VMLINUX.tmp"; fi
  fi
fi
[ "$ARCH" = amd64 ] && [ -s "$VMLINUX" ] && BOOT=$VMLINUX

RUN=$(mktemp -d /tmp/swift-cni-vm.XXXXXX) || fail "mktemp failed"
cleanup() { [ "${VM_KEEP:-0}" = 1 ] && echo "vm-run: kept $RUN" >&2 || rm -rf "$RUN"; }
trap cleanup EXIT
printf '%s\n' "$COMMAND" > "$RUN/cmd.sh"
: > "$RUN/rc"
# FIFOs: a chardev file on an already-open stdout would be truncated by QEMU.
mkfifo "$RUN/out" "$RUN/err"
cat "$RUN/out" & OUT_PID=$!
cat "$RUN/err" >&2 & ERR_PID=$!

MODULES=${VM_MODULES-ipvlan 8021q macvlan dummy veth bridge}
APPEND="console=$CONSOLE quiet loglevel=3 panic=-1 rdinit=/init"
APPEND="$APPEND vmrun.cmd=$RUN/cmd.sh vmrun.cwd=$(pwd) vmrun.modules=$(echo $MODULES | tr ' ' ,)"
common=(-nodefaults -no-user-config -smp "${VM_SMP:-2}" -m "${VM_MEM:-1G}" -display none -no-reboot
  -kernel "$BOOT" -initrd "$INITRD" -serial "file:$RUN/console.log"
  -device virtio-serial-pci
  -chardev file,id=out,path="$RUN/out" -device virtserialport,chardev=out,name=vmrun.out
  -chardev file,id=err,path="$RUN/err" -device virtserialport,chardev=err,name=vmrun.err
  -chardev file,id=rc,path="$RUN/rc" -device virtserialport,chardev=rc,name=vmrun.rc)
if [ "$ARCH" = amd64 ]; then
  machine=(-machine q35 -accel tcg,thread=multi -cpu qemu64 -vga none)
  APPEND="$APPEND tsc=reliable no_timer_check"
  root=/
  shares=()
else
  machine=(-machine virt -accel tcg,thread=multi -cpu cortex-a57)
  root=$GUEST
  # The command file and the current directory (the build outputs), at their own paths.
  shares=("$RUN" "$(pwd)")
  APPEND="$APPEND vmrun.shares=$RUN,$(pwd)"
fi
for n in "${!shares[@]}"; do
  common+=(-fsdev "local,id=share$n,path=${shares[$n]},security_model=none,readonly=on,multidevs=remap"
    -device "virtio-9p-pci,fsdev=share$n,mount_tag=share$n")
done
timeout --foreground -k 5 "${VM_TIMEOUT:-900}" \
  "$QEMU" "${machine[@]}" "${common[@]}" -append "$APPEND" \
    -fsdev local,id=root,path="$root",security_model=none,readonly=on,multidevs=remap \
    -device virtio-9p-pci,fsdev=root,mount_tag=hostroot \
    < /dev/null
QEMU_STATUS=$?
# Opening the FIFOs read-write never blocks and releases the readers if QEMU never opened them.
exec 3<>"$RUN/out" 4<>"$RUN/err"; exec 3>&- 4>&-
wait "$OUT_PID" "$ERR_PID" 2>/dev/null
STATUS=$(sed -n 's/^VMRUN_RC=\([0-9]*\).*/\1/p' "$RUN/rc")
if [ -z "$STATUS" ]; then
  [ "$QEMU_STATUS" = 124 ] && echo "vm-run: timed out after ${VM_TIMEOUT:-900} s" >&2
  echo "vm-run: the VM failed (qemu exit $QEMU_STATUS); console log:" >&2
  tail -n 40 "$RUN/console.log" >&2 2>/dev/null
  exit 125
fi
exit "$STATUS"
