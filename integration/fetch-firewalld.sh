#!/usr/bin/env bash
# Fetches firewalld and its Python modules (Debian's firewalld, python3-firewall,
# python3-nftables) for the VM suite's firewalld test, and unpacks them with dpkg -x under
# /var/tmp/swift-cni-firewalld/root. Nothing is installed on this machine: only the VM copies
# the tree into its own throw-away root (a tmpfs overlay) and runs firewalld there, inside a
# network namespace of the test's. What firewalld needs beside it (python3-dbus, python3-gi,
# gir1.2-glib-2.0, libnftables1, dbus-daemon) integration/install-deps.sh installs.
# Usage: integration/fetch-firewalld.sh      prints the unpacked root
set -euo pipefail
dest=${SWIFT_CNI_FIREWALLD:-/var/tmp/swift-cni-firewalld}
packages=(firewalld python3-firewall python3-nftables)
if [ -f "$dest/.done" ] && [ -x "$dest/root/usr/sbin/firewalld" ]; then echo "$dest/root"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt's download sandbox user must be able to write there.
id _apt >/dev/null 2>&1 && chown _apt "$work"
download() { (cd "$work" && apt-get download -qq "${packages[@]}") >&2; }
download || { apt-get update -qq >&2 && download; }
rm -rf "$dest/root"
mkdir -p "$dest/root"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$dest/root"; done
(cd "$work" && ls -1 ./*.deb) > "$dest/.done"
echo "$dest/root"
