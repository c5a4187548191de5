#!/bin/sh
# containerd's CRI as a kubelet drives it, with our plugins: RunPodSandbox with a port
# mapping on containerd's default network (bridge -> portmap), the host port answered by the
# sandbox itself (its image serves WORK's index.html on port 80), StopPodSandbox and
# RemovePodSandbox. Run by PortmapClientTests inside the test's host namespace as one session
# (`ip netns exec HOST sh integration/containerd-cri.sh WORK CLIENT ADDRESS BIN_DIR`): containerd
# and every runc container live in that namespace and mount namespace. WORK holds net.d/,
# rootfs.tar and the podman configs used to build the sandbox image. Prints marked lines.
set -u
work=$1 client=$2 address=$3 bin=$4
here=$(cd "$(dirname "$0")" && pwd)
. "$here/cgroup-v1-remount.sh"
export CONTAINERS_CONF=$work/containers.conf CONTAINERS_STORAGE_CONF=$work/storage.conf
fetch='import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip())'
get() { /usr/bin/python3 -c "$fetch" "http://$1/" 2>/dev/null || echo "FAILED"; }
socket=$work/containerd.sock

# The sandbox ("pause") image: busybox serving /www, built offline and handed to containerd.
podman import --change 'CMD ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]' \
  "$work/rootfs.tar" localhost/scni-pause:test >/dev/null || { echo "@image failed"; exit 1; }
rm -f "$work/pause.tar"
podman save --format docker-archive -o "$work/pause.tar" localhost/scni-pause:test >/dev/null 2>&1 \
  || { echo "@image save failed"; exit 1; }

cat > "$work/containerd.toml" <<TOML
version = 2
root = "$work/containerd/root"
state = "$work/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "$socket"
[ttrpc]
  address = "$work/containerd-ttrpc.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/scni-pause:test"
  # No negative oom_score_adj for the sandbox: that needs CAP_SYS_RESOURCE, which a test
  # sandbox may lack.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$bin"
    conf_dir = "$work/net.d"
TOML
containerd --log-level "${CONTAINERD_LOG_LEVEL:-info}" --config "$work/containerd.toml" > "$work/containerd.log" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null' EXIT
for _ in $(seq 1 100); do [ -S "$socket" ] && break; sleep 0.1; done
[ -S "$socket" ] || { echo "@containerd failed: $(tail -5 "$work/containerd.log")"; exit 1; }
ctr -a "$socket" -n k8s.io images import "$work/pause.tar" >/dev/null 2>&1 || { echo "@import failed"; exit 1; }

id=$(/usr/bin/python3 "$here/cri-client.py" "$socket" run web 8080:80 2>"$work/cri.err") \
  || { echo "@run failed: $(tail -3 "$work/cri.err") $(grep -i error "$work/containerd.log" | tail -3)"; exit 1; }
echo "@sandbox $id"
echo "@ip $(/usr/bin/python3 "$here/cri-client.py" "$socket" ip "$id")"
sleep 0.3
echo "@client $(ip netns exec "$client" /usr/bin/python3 -c "$fetch" "http://$address:8080/" 2>/dev/null || echo FAILED)"
echo "@localhost $(get 127.0.0.1:8080)"
/usr/bin/python3 "$here/cri-client.py" "$socket" stop "$id" && echo "@stopped"
/usr/bin/python3 "$here/cri-client.py" "$socket" remove "$id" && echo "@removed"
echo "@done"
