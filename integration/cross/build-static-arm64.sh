#!/usr/bin/env bash
# Cross-builds the release's multi-call binary for aarch64, fully static (no ELF interpreter,
# no NEEDED entry), on this amd64 machine: Debian 13's swiftlang 6.0.3 runs in the trixie
# chroot that setup-arm64.sh made, against the aarch64 sysroot beside it (glibc's libc.a,
# libmnl.a, the static Swift runtime of swiftlang:arm64). The checkout and the sysroot are
# bind-mounted into the chroot at /src and /sysroot in a private mount namespace (nothing
# stays mounted afterwards); the build's scratch directory (default .build-arm64) must be
# inside the checkout, the only host directory the chroot sees.
# Links with lld (Debian's amd64 swiftlang ships ld.lld; the default ld is x86-only).
# The compiler runs with address space randomization off (setarch -R): swiftlang 6.0.3's
# optimizer orders some work by pointer value, so with ASLR one file compiled five times gave
# four different objects (NftablesPortMapper.swift at 9d4b89a), and two release builds of one
# commit differed; without ASLR, five of five were the same bytes. Builds made under CI's load
# still differed from the same build on a quiet machine (which matched CI's first build byte
# for byte, twice): so the compiler runs one job at a time (-j 1: no race between compiler
# processes over the clang module cache) and generates code on one thread (-num-threads 1).
# And the scratch directory is bind-mounted at /build in the chroot, whatever its path here,
# so two builds see the same paths (not shown to matter alone; it removes the one input that
# differs between the release test's two builds).
# What remained (found at 606d798 by recompiling one module by hand): the optimizer's output
# depends on the size of the compiler's environment (one module compiled with a 300-byte
# variable added gave other bytes than without), and SwiftPM's build engine hands each
# compiler process variables that differ from build to build (LLBUILD_TASK_ID and the like,
# numbered in the order the tasks ran, which load changes). So swiftc is called through
# SWIFT_EXEC, a wrapper that starts it with a fixed environment; and clang's module files
# are written without the modification times of their inputs (-fno-pch-timestamp: SwiftPM
# writes CSystem's module map afresh in each build, and its time went into CSystem.pcm).
# The cause that remained after all that (found at a02b05a: one module recompiled by hand in
# one scratch gave a different object from run to run, and strace showed the driver visiting
# the source files in a different order each run): the compiler's optimizer passes written in
# Swift (SwiftCompilerSources) iterate Sets and Dictionaries whose hash seed is random per
# process. SWIFT_DETERMINISTIC_HASHING=1 in the wrapper fixes the seed: the same module
# recompiled ten times, quiet, under strace and under load, gave one object.
# Prints the path of the binary (debug info stripped; release.sh strips it whole).
# Usage: integration/cross/build-static-arm64.sh [--scratch-path DIR] [extra swift build arguments]
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=$(bash integration/cross/setup-arm64.sh)
source integration/build-stamp.sh
scratch=.build-arm64
if [ "${1:-}" = --scratch-path ]; then
  mkdir -p "$2"
  scratch=$(realpath --relative-to="$PWD" "$2")
  shift 2
fi
case "$scratch" in
  ../* | /*) echo "build-static-arm64: the scratch path must be inside the checkout ($PWD)" >&2; exit 2 ;;
esac
flags=(-c release --scratch-path /build -j 1 --triple aarch64-unknown-linux-gnu
  --sdk /sysroot -Xswiftc -sdk -Xswiftc /sysroot -Xswiftc -static-executable
  -Xswiftc -resource-dir -Xswiftc /sysroot/usr/lib/swift_static -Xswiftc -use-ld=lld
  -Xswiftc -num-threads -Xswiftc 1 -Xswiftc -Xfrontend -Xswiftc -enable-single-module-llvm-emission
  -Xcc -Xclang -Xcc -fno-pch-timestamp
  -Xlinker --strip-debug -Xcc -DSWIFT_CNI_STATIC -Xcc "-DSWIFT_CNI_COMMIT=\"$commit\"")
# One target at a time, dependencies first, in a fixed order (build-order.sh says why).
# (A scratch that already holds a build is built incrementally in one go: what a fresh build
# makes is what must not depend on the load, and each `swift build --target` costs seconds.)
BUILD_ORDER=$(bash integration/build-order.sh | tr "\n" " ")
[ -e "$scratch/aarch64-unknown-linux-gnu/release/swift-cni" ] && BUILD_ORDER=""
export BUILD_ORDER
mkdir -p "$scratch" "$cache/trixie-amd64/src" "$cache/trixie-amd64/sysroot" "$cache/trixie-amd64/build"
# The fixed-environment compiler (seen in the chroot as /build/.swiftc-fixed-environment).
cat > "$scratch/.swiftc-fixed-environment" <<'WRAPPER'
#!/bin/sh
exec env -i PATH=/usr/bin:/bin HOME=/root ${SOURCE_DATE_EPOCH:+SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH} \
  SWIFT_DETERMINISTIC_HASHING=1 GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.tcache_count=0 /usr/libexec/swift/bin/swiftc "$@"
WRAPPER
chmod 755 "$scratch/.swiftc-fixed-environment"
# shellcheck disable=SC2016
unshare --mount --propagation private bash -c '
  set -e
  root=$1; src=$2; sysroot=$3; scratch=$4; shift 4
  mount --bind "$src" "$root/src"
  mount --bind "$src/$scratch" "$root/build"
  mount --bind "$sysroot" "$root/sysroot"
  mount -t proc proc "$root/proc"
  stamp=()
  [ -n "${SOURCE_DATE_EPOCH:-}" ] && stamp=(SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH")
  exec setarch "$(uname -m)" -R chroot "$root" env -i PATH=/usr/bin:/bin HOME=/root "${stamp[@]}" \
    PKG_CONFIG_PATH=/sysroot/usr/lib/aarch64-linux-gnu/pkgconfig PKG_CONFIG_SYSROOT_DIR=/sysroot \
    SWIFT_EXEC=/build/.swiftc-fixed-environment \
    sh -c "cd /src && for target in $BUILD_ORDER; do swift build \"\$@\" --target \$target || exit 1; done && swift build \"\$@\" --product swift-cni" swift-build "$@"
' unshare-build "$cache/trixie-amd64" "$PWD" "$cache/sysroot-arm64" "$scratch" "${flags[@]}" "$@" >&2
echo "$PWD/$scratch/aarch64-unknown-linux-gnu/release/swift-cni"
