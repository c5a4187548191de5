#!/usr/bin/env bash
# Builds the release binaries for installing on nodes, optimised for start-up, which is most
# of a CNI plugin's run time:
#  --static-swift-stdlib      the Swift runtime linked in: no toolchain needed on the node
#  libstdc++ linked statically (a linker script named libstdc++.so that points at the archive)
#                             saves loading and relocating a 2 MB shared library on every exec
#  --disable-local-rpath, --no-export-dynamic
#                             no $ORIGIN library search and no export of every symbol
#  -no-pie                    a fixed-address executable, like the reference Go plugins: no
#                             relocation of ~450 KB of pointers at every start (about 0.4 ms
#                             and 1 MB of dirty memory); PIE=1 builds a position-independent one
#  --strip-debug              no DWARF in the installed files (symbols stay, for backtraces)
#  libgcc_eh before libgcc_s  the unwinder linked in (--as-needed then drops libgcc_s.so)
# The result needs only glibc (libc, libm, ld-linux) and libmnl.so.0. Extra arguments go to swift build.
set -euo pipefail
cd "$(dirname "$0")/.."
LINK_DIR=$PWD/.build/static-link
mkdir -p "$LINK_DIR"
archive=$(gcc -print-file-name=libstdc++.a 2>/dev/null || true)
flags=(-c release --static-swift-stdlib --disable-local-rpath -Xlinker --no-export-dynamic -Xlinker --strip-debug)
[ "${PIE:-0}" = 1 ] || flags+=(-Xswiftc -Xclang-linker -Xswiftc -no-pie)
flags+=(-Xlinker --push-state -Xlinker --as-needed -Xlinker -Bstatic -Xlinker -lgcc_eh -Xlinker --pop-state)
if [ -n "$archive" ] && [ -f "$archive" ]; then
  echo "INPUT($archive)" > "$LINK_DIR/libstdc++.so"
  flags+=(-Xlinker -L"$LINK_DIR")
else
  echo "build-release: libstdc++.a not found (apt-get install libstdc++-12-dev); linking it dynamically" >&2
fi
source integration/build-stamp.sh
flags+=(-Xcc "-DSWIFT_CNI_COMMIT=\"$commit\"")
swift build "${flags[@]}" "$@"
