#!/usr/bin/env bash
# Builds the release's multi-call binary fully static (no ELF interpreter, no NEEDED entry):
# the Swift runtime, glibc (libc.a), libmnl and libnftnl (Debian 13's libmnl.a and libnftnl.a, fetched by
# fetch-static-libs.sh) linked in, so it runs on any x86-64 Linux kernel, with or without
# glibc or libmnl on the node (immutable node OSes, distroless containers such as Multus
# thick's). glibc warns that dlopen in a static program needs the build's glibc at run time:
# only the Swift runtime's optional prespecialization probe calls it, and the plugins use no
# NSS (getpwnam, getaddrinfo), which is what would need it.
# Prints the path of the binary (stripped of debug info; release.sh strips it whole).
# Usage: integration/build-static.sh [--scratch-path DIR] [extra swift build arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
mnl=$(bash integration/fetch-static-libs.sh amd64)
scratch=.build-static
if [ "${1:-}" = --scratch-path ]; then scratch=$2; shift 2; fi
source integration/build-stamp.sh
flags=(-c release -j 1 -Xswiftc -static-executable -Xswiftc -num-threads -Xswiftc 1
  -Xswiftc -Xfrontend -Xswiftc -enable-single-module-llvm-emission -Xcc -Xclang -Xcc -fno-pch-timestamp
  -Xlinker -L"$mnl" -Xlinker --strip-debug -Xcc -DSWIFT_CNI_STATIC -Xcc "-DSWIFT_CNI_COMMIT=\"$commit\"")
# As for arm64 (build-static-arm64.sh says why): ASLR off for the compiler, one job at a time,
# code generation in the compiler's main thread, module files without input times, swiftc
# started with a fixed environment, one malloc arena and Swift's hash seeding off (SWIFT_EXEC,
# the wrapper below), and
# the scratch directory seen at one fixed path (a bind mount in a private mount namespace), so
# two builds of one commit give the same bytes wherever their scratch directories are and
# however loaded the machine is.
fixed=/var/tmp/swift-cni-static-scratch
mkdir -p "$scratch" "$fixed"
swiftc=$(command -v swiftc)
cat > "$scratch/.swiftc-fixed-environment" <<WRAPPER
#!/bin/sh
exec env -i PATH=$(dirname "$swiftc"):/usr/bin:/bin HOME=/root \${SOURCE_DATE_EPOCH:+SOURCE_DATE_EPOCH=\$SOURCE_DATE_EPOCH} \\
  SWIFT_DETERMINISTIC_HASHING=1 GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.tcache_count=0 $swiftc "\$@"
WRAPPER
chmod 755 "$scratch/.swiftc-fixed-environment"
# shellcheck disable=SC2016
# One target at a time, dependencies first, in a fixed order (build-order.sh says why), then
# the product.
# (A scratch that already holds a build is built incrementally in one go: what a fresh build
# makes is what must not depend on the load, and each `swift build --target` costs seconds.)
BUILD_ORDER=$(bash integration/build-order.sh | tr "\n" " ")
[ -e "$scratch/x86_64-unknown-linux-gnu/release/swift-cni" ] && BUILD_ORDER=""
export BUILD_ORDER
unshare --mount --propagation private bash -c 'mount --bind "$1" "$2" && export SWIFT_EXEC="$2/.swiftc-fixed-environment" && shift 2 && for target in $BUILD_ORDER; do setarch "$(uname -m)" -R swift build "$@" --target "$target" || exit 1; done && exec setarch "$(uname -m)" -R swift build "$@" --product swift-cni' \
  bind-scratch "$(realpath "$scratch")" "$fixed" "${flags[@]}" --scratch-path "$fixed" "$@" >&2
echo "$(swift build -c release --scratch-path "$scratch" --show-bin-path)/swift-cni"
