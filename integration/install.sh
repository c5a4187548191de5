#!/bin/sh
# Installs swift-cni's plugins into a CNI bin dir, safely on a live node, and gives the old
# plugins back on --uninstall (POSIX sh: it runs under bash, dash and busybox, and is the
# entrypoint of the installer image).
#
#   install.sh [--dest DIR] [--from DIR] [--only NAMES] [--with-systemd [--systemd-dir DIR]]
#              [--with-cnitool DIR]
#   install.sh --uninstall [--dest DIR] [--only NAMES] [--with-cnitool DIR]
#
# --dest DIR         the CNI bin dir (default /opt/cni/bin; created when missing)
# --from DIR         a bin dir holding the plugin names (default: bin/ beside this script, as in
#                    the release tarball and the image; in a source checkout, dist/bin, built
#                    first by integration/release.sh when missing)
# --only NAMES       a comma-separated subset, e.g. macvlan,ipvlan,vlan,dhcp: keep the primary
#                    network's bridge, loopback and host-local from the reference
# --with-systemd     also install the dhcp daemon's units (swift-cni-dhcp.socket/.service)
# --systemd-dir DIR  where the units go (default /etc/systemd/system)
# --with-cnitool DIR also install cnitool (the same binary) as DIR/cnitool, e.g. /usr/local/bin;
#                    never into the CNI bin dir. With --uninstall: remove it when it is ours
# --uninstall        remove our plugins from DEST and put back, byte for byte, every file an
#                    install replaced (kept under DEST/.swift-cni-replaced/)
#
# Before touching DEST the new binary is run (--version): a binary that cannot run on this
# node is refused with what it said. Every name is written under a temporary name in DEST,
# synced, then renamed over the old one, so a runtime exec'ing a plugin meanwhile runs the
# old or the new file, never a part. A file that is not ours is first copied (content, mode,
# times) to DEST/.swift-cni-replaced/. A name whose content is already the same is left alone.
# The names are hard links of one file (copies where DEST refuses hard links). Other files in
# DEST (the reference's bandwidth, host-device, sbr ...) are never touched. A symlink under a
# plugin name (a package manager's) is kept as the link itself and given back as one.
# One install.sh at a time per DEST (a lock directory; a second one waits); what a killed or
# failed run left (temporary files) is removed by the next run. The new binary and the
# backups are written before any name changes, every write is checked, and a write that
# fails (a full disk) is undone: nothing changes. A directory or other non-file under a
# plugin name is refused before any change.
set -eu

names=""
marker="swift-cni-binary-v1"
dest=/opt/cni/bin
from=""
uninstall=0
only=0
systemd=0
systemd_dir=/etc/systemd/system
cnitool_dir=""

die() { echo "install.sh: $*" >&2; exit 1; }
usage() { sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; }

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
    --with-cnitool) [ $# -ge 2 ] || die "--with-cnitool needs a directory"; cnitool_dir=$2; shift 2 ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ "$only" = 0 ] || [ -n "$names" ] || die "--only names nothing"

backup=$dest/.swift-cni-replaced
# Ours: a regular file (not a symlink to one) carrying our marker.
is_ours() { [ ! -L "$1" ] && [ -f "$1" ] && grep -q "$marker" "$1" 2>/dev/null; }
# Something is at the name: a file, a directory, or a symlink (dangling ones too).
exists() { [ -e "$1" ] || [ -L "$1" ]; }
# The first line a plugin says about itself: ours and the reference's both answer --version
# (the reference prints its banner when run without CNI_COMMAND); a symlink says where to.
version_of() {
  if [ -L "$1" ] && [ ! -e "$1" ]; then echo "(dangling symlink to $(readlink "$1"))"; return; fi
  (env -u CNI_COMMAND "$1" --version 2>&1 || true) | head -n 1
}
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

# One installer at a time per DEST: the lock is a directory holding its owner's pid. A lock
# whose owner is gone (killed) is taken over; a live owner is waited for, at most 5 minutes.
lock=$dest/.swift-cni-install.lock
temporaries=""   # files of this run to remove when it ends, whatever the way
cleanup() {
  for file in $temporaries; do rm -f "$file"; done
  [ "${locked:-0}" = 1 ] && rm -rf "$lock"
  return 0
}
take_lock() {
  mkdir -p "$dest" || die "cannot create $dest"
  tries=0
  while ! mkdir "$lock" 2>/dev/null; do
    owner=$(cat "$lock/pid" 2>/dev/null || true)
    if { [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; } || { [ -z "$owner" ] && [ "$tries" -gt 50 ]; }; then
      echo "install.sh: $dest: taking over the lock of a run that is gone (pid ${owner:-unknown})" >&2
      rm -rf "$lock"
      continue
    fi
    [ "$tries" = 0 ] && echo "install.sh: $dest: another install.sh (pid ${owner:-starting}) is running; waiting" >&2
    tries=$((tries + 1))
    [ "$tries" -le 3000 ] || die "$dest: gave up waiting for install.sh pid ${owner:-unknown}"
    sleep 0.1
  done
  locked=1
  trap cleanup EXIT
  trap 'exit 130' INT TERM HUP
  echo $$ > "$lock/pid"
  # Leftovers of runs that were killed or failed before this fix or before their cleanup ran:
  # nobody else is running now, so they are nobody's.
  for file in "$dest"/.*.swift-cni-new.* "$dest"/.swift-cni-new.* "$backup"/.*.tmp \
    ${cnitool_dir:+"$cnitool_dir"/.cnitool.swift-cni-new.*}; do
    exists "$file" && rm -f "$file" && echo "install.sh: removed $file, left by an earlier run" >&2
  done
  return 0
}

if [ "$uninstall" = 1 ]; then
  [ -d "$dest" ] || { echo "install.sh: $dest: nothing of ours"; exit 0; }
  take_lock
  choose_names "$dest"
  changed=""
  for name in $names; do
    is_ours "$dest/$name" || continue
    if exists "$backup/$name"; then
      mv -f "$backup/$name" "$dest/$name" || die "cannot restore $dest/$name from $backup/$name"
      changed="$changed $name (restored: $(version_of "$dest/$name"))"
    else
      rm -f "$dest/$name" || die "cannot remove $dest/$name"
      changed="$changed $name (removed)"
    fi
  done
  rmdir "$backup" 2>/dev/null || true
  if [ -n "$cnitool_dir" ] && is_ours "$cnitool_dir/cnitool"; then
    rm -f "$cnitool_dir/cnitool" && changed="$changed $cnitool_dir/cnitool (removed)"
  fi
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

take_lock
# A directory, FIFO or device under a plugin name is somebody's: refused before any change.
for name in $names; do
  target=$dest/$name
  if exists "$target" && [ ! -L "$target" ] && [ ! -f "$target" ]; then
    die "$target is not a file (a directory, FIFO or device?); nothing was changed: move it away first"
  fi
done

# Which names change; a file in DEST already holding the new content is linked to.
installed=""
todo=""
for name in $names; do
  target=$dest/$name
  if [ ! -L "$target" ] && [ -f "$target" ] && cmp -s "$from/$name" "$target"; then
    [ -n "$installed" ] || installed=$target
  else
    todo="$todo $name"
  fi
done

# The writes, before any name changes; a failed one (a full disk) is undone and nothing
# changes. First the new binary, once.
if [ -n "$todo" ] && [ -z "$installed" ]; then
  staged=$dest/.swift-cni-new.$$
  temporaries="$temporaries $staged"
  { cp "$from/$first" "$staged" && chmod 0755 "$staged" && { sync "$staged" 2>/dev/null || sync; }; } \
    || die "cannot write the new binary into $dest (disk full?); nothing was changed"
  installed=$staged
fi
# Then a copy of each name that is not ours (the link itself for a symlink).
backed=""
for name in $todo; do
  target=$dest/$name
  exists "$target" && ! is_ours "$target" && ! exists "$backup/$name" || continue
  mkdir -p "$backup" || die "cannot create $backup; nothing was changed"
  temporaries="$temporaries $backup/.$name.tmp"
  if ! { cp -P -p "$target" "$backup/.$name.tmp" && mv -f "$backup/.$name.tmp" "$backup/$name"; }; then
    rm -f "$backup/.$name.tmp"
    for saved in $backed; do rm -f "$backup/$saved"; done
    rmdir "$backup" 2>/dev/null || true
    die "cannot keep a copy of $target in $backup (disk full?); nothing was changed"
  fi
  backed="$backed $name"
done

# Then each name, renamed over atomically: a hard link of the new file (no data written), or
# a copy where DEST refuses hard links.
changed=""
for name in $todo; do
  target=$dest/$name
  old="(none)"
  exists "$target" && old=$(version_of "$target")
  temporary=$dest/.$name.swift-cni-new.$$
  temporaries="$temporaries $temporary"
  rm -f "$temporary"
  if ! ln "$installed" "$temporary" 2>/dev/null; then
    { cp "$installed" "$temporary" && chmod 0755 "$temporary" && { sync "$temporary" 2>/dev/null || sync; }; } \
      || die "cannot write $temporary (disk full?); installed so far:${changed:- nothing}"
  fi
  mv -f "$temporary" "$target" || die "cannot rename $temporary to $target; installed so far:${changed:- nothing}"
  echo "install.sh: $name: $old -> swift-cni ${new#swift-cni $first }"
  changed="$changed $name"
done
if [ -n "$cnitool_dir" ]; then
  # Outside the CNI bin dir, under the one name the binary runs cnitool as.
  mkdir -p "$cnitool_dir" || die "cannot create $cnitool_dir"
  if exists "$cnitool_dir/cnitool" && ! is_ours "$cnitool_dir/cnitool"; then
    die "$cnitool_dir/cnitool is not ours (the CNI project's?); not replaced"
  fi
  temporary=$cnitool_dir/.cnitool.swift-cni-new.$$
  temporaries="$temporaries $temporary"
  { ln -f "$dest/$first" "$temporary" 2>/dev/null || { cp "$from/$first" "$temporary" && chmod 0755 "$temporary"; }; } \
    && mv -f "$temporary" "$cnitool_dir/cnitool" || die "cannot write $cnitool_dir/cnitool"
  echo "install.sh: cnitool: $cnitool_dir/cnitool"
fi
if [ "$systemd" = 1 ]; then
  units=$here/systemd                                            # the tarball and the image
  [ -f "$units/swift-cni-dhcp.socket" ] || units=$here/../systemd  # a source checkout
  [ -f "$units/swift-cni-dhcp.socket" ] || die "no systemd units beside this script"
  mkdir -p "$systemd_dir"
  for unit in swift-cni-dhcp.socket swift-cni-dhcp.service; do cp "$units/$unit" "$systemd_dir/$unit"; done
  echo "install.sh: units in $systemd_dir; enable with: systemctl daemon-reload && systemctl enable --now swift-cni-dhcp.socket"
fi
echo "install.sh: $dest:${changed:- nothing to change}${changed:+ installed}"
