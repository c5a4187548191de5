#!/usr/bin/env bash
# Prints the targets the release product (swift-cni) is built from, one per line, each after
# everything it depends on, ties broken by name: the same order on every run. The static builds
# compile them one `swift build --target` at a time in this order, so that each compile finds
# the same files in the scratch directory (modules, the clang module cache) whatever the load:
# the build engine otherwise picks among ready tasks in an order that load changes, and a
# compile that builds a clang module itself allocates differently from one that loads it,
# which moved the optimizer's pointer-ordered decisions (two arm64 builds of one commit
# differed under CI's load).
# Usage: integration/build-order.sh   (in the checkout; needs swift and python3)
# SwiftPM reads the manifest in a scratch directory of its own: the default one (.build) may be
# locked by a running `swift build` or `swift test` (the suite runs this script), and would
# wait for it.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest_scratch=$(mktemp -d /tmp/swift-cni-build-order.XXXXXX)
trap 'rm -rf "$manifest_scratch"' EXIT
swift package --scratch-path "$manifest_scratch" describe --type json | python3 -c '
import json, sys
targets = {t["name"]: t for t in json.load(sys.stdin)["targets"]}
needed, stack = set(), ["swift-cni"]
while stack:
    name = stack.pop()
    if name in needed or name not in targets:
        continue
    needed.add(name)
    stack += targets[name].get("target_dependencies") or []
built = {n for n in needed if targets[n]["type"] != "system-target"}
done, order = set(), []
while len(order) < len(built):
    ready = sorted(n for n in built - done
                   if all(d in done or d not in built for d in targets[n].get("target_dependencies") or []))
    if not ready:
        sys.exit("build-order: a dependency cycle among " + " ".join(sorted(built - done)))
    order.append(ready[0])
    done.add(ready[0])
print("\n".join(order))
'
