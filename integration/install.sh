#!/bin/sh
# Installs swift-cni's plugins into a CNI bin dir, safely on a live node, and gives the old
# plugins back on --uninstall (POSIX sh: it runs under bash, dash and busybox, and is the
# entrypoint of the installer image).
#
#   install.sh [--dest DIR] [--from DIR] [--only NAMES] [--with-systemd [--systemd-dir DIR]]
#   install.sh --uninstall [--dest DIR] [--only NAMES]
#
# --dest DIR         the CNI bin dir (default /opt/cni/bin; created when missing)
# --from DIR         a bin dir holding the plugin names (default: bin/ beside this script, as in
#                    the release tarball and the image; in a source checkout, dist/bin, built
#                    first by integration/release.sh when missing)
# --only NAMES       a comma-separated subset, e.g. macvlan,ipvlan,vlan,dhcp: keep the primary
#                    network's bridge, loopback and host-local from the reference
# --with-systemd     also install the dhcp daemon's units (swift-cni-dhcp.socket/.service)
# --systemd-dir DIR  where the units go (default /etc/systemd/system)
# --uninstall        remove our plugins from DEST and put back, byte for byte, every file an
#                    install replaced (kept under DEST/.swift-cni-replaced/)
#
# Before touching DEST the new binary is run (--version): a binary that cannot run on this
# node is refused with what it said. Every name is written under a temporary name in DEST,
# synced, then renamed over the old one, so a runtime exec'ing a plugin meanwhile runs the
# old or the new file, never a part. A file that is not ours is first copied (content, mode,
# times) to DEST/.swift-cni-replaced/. A name whose content is already the same is left alone.
# The names are hard links of one file (copies where DEST refuses hard links). Other files in
# DEST (the reference's portmap, tuning, firewall ...) are never touched.
set -eu

names=""
marker="swift-cni-binary-v1"
dest=/opt/cni/bin
from=""
uninstall=0
only=0
systemd=0
systemd_dir=/etc/systemd/system

die() { echo "install.sh: $*" >&2; exit 1; }
usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dest) [ $# -ge 2 ] || die "--dest needs a directory"; dest=$2; shift 2 ;;
    --dest=*) dest=${1#--dest=}; shift ;;
    --from) [ $# -ge 2 ] || die "--from needs a directory"; from=$2; shift 2 ;;
    --from=*) from=${1#--from=}; shift ;;
    --only) [ $# -ge 2 ] || die "--only needs names"; only=1; names=$(echo "$2" | tr ',' ' '); shift 2 ;;
    --only=*) only=1; names=$(echo "${1#--only=}" | tr ',' ' '); shift ;;
    --with-systemd) systemd=1; shift ;;
    --systemd-dir) [ $# -ge 2 ] || die "--systemd-dir needs a directory"; systemd_dir=$2; shift 2 ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ "$only" = 0 ] || [ -n "$names" ] || die "--only names nothing"

backup=$dest/.swift-cni-replaced
is_ours() { [ -f "$1" ] && grep -q "$marker" "$1" 2>/dev/null; }
# The first line a plugin says about itself: ours and the reference's both answer --version
# (the reference prints its banner when run without CNI_COMMAND).
version_of() { (env -u CNI_COMMAND "$1" --version 2>&1 || true) | head -n 1; }
# The plugin names: the registry of the binary in DIR (any of our files there answers
# --list); 0.2.0 and older did not answer it and carried these eight.
plugins_in() {
  for file in "$1"/*; do
    is_ours "$file" || continue
    listed=$(env -u CNI_COMMAND "$file" --list 2>/dev/null | tr '\n' ' ' || true)
    echo "${listed:-macvlan ipvlan vlan bridge host-local static dhcp loopback}"
    return 0
  done
}
# Sets names to the registry of DIR, or checks --only's names against it.
choose_names() {
  all=$(plugins_in "$1")
  if [ "$only" = 0 ]; then names=$all; return 0; fi
  for name in $names; do
    case " $all " in *" $name "*) ;; *) die "unknown plugin \"$name\" in --only (plugins: $all)" ;; esac
  done
}

if [ "$uninstall" = 1 ]; then
  [ -d "$dest" ] && choose_names "$dest"
  changed=""
  for name in $names; do
    is_ours "$dest/$name" || continue
    if [ -f "$backup/$name" ]; then
      mv -f "$backup/$name" "$dest/$name"
      changed="$changed $name (restored: $(version_of "$dest/$name"))"
    else
      rm -f "$dest/$name"
      changed="$changed $name (removed)"
    fi
  done
  rmdir "$backup" 2>/dev/null || true
  echo "install.sh: $dest:${changed:- nothing of ours}"
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
[ -d "$from" ] || die "no plugins to install: $from is not a directory"
choose_names "$from"
[ -n "$names" ] || die "no swift-cni plugin binary in $from"
for name in $names; do
  is_ours "$from/$name" || die "$from/$name is not a swift-cni plugin binary"
done
# The new binary must run here before anything is changed.
first=$(echo $names | cut -d' ' -f1)
said=$(env -u CNI_COMMAND "$from/$first" --version 2>&1) && case "$said" in "swift-cni $first "*) true ;; *) false ;; esac \
  || die "the new $first does not run on this node, nothing was changed: $(echo "$said" | head -n 3)"
new=$(echo "$said" | head -n 1)

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
  old="(none)"
  if [ -e "$target" ]; then
    old=$(version_of "$target")
    if ! is_ours "$target" && [ ! -e "$backup/$name" ]; then
      mkdir -p "$backup"
      cp -p "$target" "$backup/.$name.tmp"
      mv -f "$backup/.$name.tmp" "$backup/$name"
    fi
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
  echo "install.sh: $name: $old -> swift-cni ${new#swift-cni $first }"
  changed="$changed $name"
done
if [ "$systemd" = 1 ]; then
  units=$here/systemd                                            # the tarball and the image
  [ -f "$units/swift-cni-dhcp.socket" ] || units=$here/../systemd  # a source checkout
  [ -f "$units/swift-cni-dhcp.socket" ] || die "no systemd units beside this script"
  mkdir -p "$systemd_dir"
  for unit in swift-cni-dhcp.socket swift-cni-dhcp.service; do cp "$units/$unit" "$systemd_dir/$unit"; done
  echo "install.sh: units in $systemd_dir; enable with: systemctl daemon-reload && systemctl enable --now swift-cni-dhcp.socket"
fi
echo "install.sh: $dest:${changed:- nothing to change}${changed:+ installed}"
