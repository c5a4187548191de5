#!/usr/bin/env bash
# Installs what swift-cni needs to build, test and benchmark on Debian 12 / Ubuntu, as root.
# The Swift toolchain itself (6.x) is expected on PATH or at /opt/swift/usr/bin.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  libmnl-dev libnftnl-dev pkg-config   # build: netlink through libmnl, nf_tables through libnftnl
  iproute2 iputils-ping            # tests: namespaces, veth, ping
  nftables iptables                # firewall backends (bridge ipMasq)
  qemu-system-x86 linux-image-amd64 busybox-static cpio xz-utils kmod   # the VM runner (busybox: also the image)
  podman runc file                 # the installer image: built and run offline (integration/image/)
  containernetworking-plugins      # the reference Go plugins, for benchmarks and interop tests
  hyperfine strace time netavark   # benchmarks (netavark: Podman's network backend, compared with bridge) (bench/memory.sh holds processes at exit with strace; GNU time for peak RSS)
  golang-go golang-github-appc-cni-dev   # libcni (Podman/containerd/CRI-O's library) drives the binaries in a test
  containerd python3-grpcio        # containerd's CRI, driven as a kubelet drives it (integration/cri-client.py)
  dnsmasq-base                     # a DHCP server for the dhcp tests
  dbus-daemon python3-dbus python3-gi gir1.2-glib-2.0 polkitd   # the D-Bus client's tests; what firewalld needs in the VM (integration/fetch-firewalld.sh)
  debootstrap qemu-system-arm qemu-user-static binutils-aarch64-linux-gnu   # arm64: cross-build chroot, VM, strip (integration/cross/)
  python3-yaml python3-venv        # deploy/kubernetes: manifests read and validated offline
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# kubectl renders deploy/kubernetes (kustomize): Debian's kubernetes-client where none is installed.
command -v kubectl >/dev/null || missing+=(kubernetes-client)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# kubernetes-validate (PyPI) checks deploy/kubernetes against the Kubernetes schemas it ships;
# in a venv of its own, so the system's Python stays as Debian made it.
VENV=/opt/swift-cni-tools/venv
if ! "$VENV/bin/python3" -c "import kubernetes_validate, yaml" 2>/dev/null; then
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
  "$VENV/bin/python3" -m pip install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
fi
# firewalld for the VM suite, unpacked (never installed here: it would manage this machine's firewall).
bash "$(dirname "$0")/fetch-firewalld.sh" >/dev/null
echo "install-deps: all packages present"
