#!/bin/sh
# Podman 4's CNI backend with our plugins: `podman run -p` on a bridge network whose conflist
# chains bridge -> portmap, then `podman rm`. Run by PortmapClientTests inside the test's host
# namespace (`ip netns exec HOST sh integration/podman-portmap.sh WORK CLIENT ADDRESS`), as
# one session: every podman command must share the mount namespace that holds its netns
# bind mounts. WORK holds containers.conf, storage.conf, net.d/ and rootfs.tar (an image with
# busybox serving WORK's index.html on port 80). Prints marked lines for the test to read.
set -u
work=$1 client=$2 address=$3
export CONTAINERS_CONF=$work/containers.conf CONTAINERS_STORAGE_CONF=$work/storage.conf
. "$(dirname "$0")/cgroup-v1-remount.sh"
# (python's urllib: Debian's static busybox wget crashes here.)
fetch='import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip())'
get() { /usr/bin/python3 -c "$fetch" "http://$1/" 2>/dev/null || echo "FAILED"; }

podman import "$work/rootfs.tar" localhost/scni-web:test >/dev/null || { echo "@import failed"; exit 1; }
podman run -d --name web -p 8080:80 localhost/scni-web:test /bin/busybox httpd -f -p 80 -h /www \
  > "$work/run.log" 2>&1 || { echo "@run failed: $(cat "$work/run.log")"; exit 1; }
sleep 0.5
echo "@client $(ip netns exec "$client" /usr/bin/python3 -c "$fetch" "http://$address:8080/" 2>/dev/null || echo FAILED)"
echo "@localhost $(get 127.0.0.1:8080)"
echo "@inspect $(podman inspect --format '{{.NetworkSettings.IPAddress}}' web)"
podman rm -f web >/dev/null 2>&1
echo "@rm $?"
podman rmi -f localhost/scni-web:test >/dev/null 2>&1
echo "@done"
