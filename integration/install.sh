#!/bin/sh
# Installs swift-cni's plugins into a CNI bin dir, safely on a live node (POSIX sh: it runs
# under bash, dash and busybox, and is the entrypoint of the installer image).
#
#   install.sh [--dest DIR] [--from DIR] [--uninstall]
#
# --dest DIR   the CNI bin dir (default /opt/cni/bin; created when missing)
# --from DIR   a bin dir holding the eight names (default: bin/ beside this script, as in the
#              release tarball and the image; in a source checkout, dist/bin, built first by
#              integration/release.sh when missing)
# --uninstall  remove our plugins from DEST (only files that are swift-cni binaries)
#
# Every name is written under a temporary name in DEST, synced, then renamed over the old
# one, so a runtime exec'ing a plugin meanwhile runs the old or the new file, never a part.
# A name whose content is already the same is left alone (a repeated install changes no
# inode). The names are hard links of one file (copies where DEST refuses hard links). Other
# files in DEST (the reference's portmap, tuning, firewall ...) are never touched.
set -eu

names="macvlan ipvlan vlan bridge host-local static dhcp loopback"
marker="swift-cni-binary-v1"
dest=/opt/cni/bin
from=""
uninstall=0

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dest) [ $# -ge 2 ] || die "--dest needs a directory"; dest=$2; shift 2 ;;
    --dest=*) dest=${1#--dest=}; shift ;;
    --from) [ $# -ge 2 ] || die "--from needs a directory"; from=$2; shift 2 ;;
    --from=*) from=${1#--from=}; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

is_ours() { [ -f "$1" ] && grep -q "$marker" "$1" 2>/dev/null; }

if [ "$uninstall" = 1 ]; then
  removed=""
  for name in $names; do
    if is_ours "$dest/$name"; then rm -f "$dest/$name"; removed="$removed $name"; fi
  done
  echo "install.sh: removed from $dest:${removed:- nothing of ours}"
  exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
if [ -z "$from" ]; then
  if [ -f "$here/bin/macvlan" ]; then
    from=$here/bin
  elif [ -f "$here/../Package.swift" ]; then
    [ -f "$here/../dist/bin/macvlan" ] || bash "$here/release.sh" --bin-only >&2
    from=$here/../dist/bin
  else
    die "no plugins to install: give --from DIR"
  fi
fi
for name in $names; do
  is_ours "$from/$name" || die "$from/$name is not a swift-cni plugin binary"
done

mkdir -p "$dest"
installed=""   # a file in DEST already holding the new content, to hard-link the others to
changed=""
for name in $names; do
  source=$from/$name
  target=$dest/$name
  if [ -f "$target" ] && cmp -s "$source" "$target"; then
    [ -n "$installed" ] || installed=$target
    continue
  fi
  temporary=$dest/.$name.swift-cni-new.$$
  rm -f "$temporary"
  if [ -n "$installed" ] && ln "$installed" "$temporary" 2>/dev/null; then
    :
  else
    cp "$source" "$temporary"
    chmod 0755 "$temporary"
    sync "$temporary" 2>/dev/null || sync
  fi
  mv -f "$temporary" "$target"
  [ -n "$installed" ] || installed=$target
  changed="$changed $name"
done
echo "install.sh: $dest:${changed:- nothing to change}${changed:+ installed}"
