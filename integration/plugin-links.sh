#!/usr/bin/env bash
# Makes a CNI bin dir out of a build: BUILD_DIR/cni-bin holding one relative symbolic link to
# BUILD_DIR/swift-cni under each plugin name it lists (`swift-cni --list`), as a node installs
# the multi-call binary; prints the directory. A rebuild needs no new links.
# Usage: integration/plugin-links.sh [BUILD_DIR]      (default .build/debug)
set -euo pipefail
build=$(cd "${1:-$(dirname "$0")/../.build/debug}" && pwd)
[ -x "$build/swift-cni" ] || { echo "plugin-links: no $build/swift-cni: run swift build first" >&2; exit 1; }
mkdir -p "$build/cni-bin"
for name in $("$build/swift-cni" --list); do
  [ -L "$build/cni-bin/$name" ] || ln -s ../swift-cni "$build/cni-bin/$name"
done
echo "$build/cni-bin"
