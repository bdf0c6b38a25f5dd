#!/usr/bin/env bash
# Prepares a Kubernetes node: kernel settings, no swap, containerd with the systemd cgroup driver,
# and kubelet/kubeadm/kubectl from pkgs.k8s.io pinned to the spec's release and held, so an
# unattended upgrade can never move a node to another Kubernetes version.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=install-kubernetes
MARKER="$STATE_DIR/kubernetes-installed"
if [[ -f $MARKER && "$(cat "$MARKER")" == "$KUBERNETES_VERSION" ]]; then
  log "Kubernetes $KUBERNETES_VERSION is already installed"
  exit 0
fi

log "loading overlay and br_netfilter, applying sysctls"
modprobe overlay
modprobe br_netfilter
sysctl --system >/dev/null

# The kubelet refuses to start with swap on; also keep it off after a reboot.
swapoff -a
if [[ -f $ROOT/etc/fstab ]]; then sed -i -E '/^[^#].*[[:space:]]swap[[:space:]]/ s/^/#/' "$ROOT/etc/fstab"; fi

log "adding the pkgs.k8s.io repository for Kubernetes $KUBERNETES_MINOR"
repo="https://pkgs.k8s.io/core:/stable:/v$KUBERNETES_MINOR/deb/"
mkdir -p "$ROOT/etc/apt/keyrings" "$ROOT/etc/apt/sources.list.d"
retry 5 bash -o pipefail -c "curl -fsSL '${repo}Release.key' | gpg --dearmor --yes -o '$ROOT/etc/apt/keyrings/kubernetes-apt-keyring.gpg'"
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] $repo /" >"$ROOT/etc/apt/sources.list.d/kubernetes.list"

log "installing containerd and Kubernetes $KUBERNETES_VERSION packages"
apt_get update
apt_get install containerd conntrack socat "kubelet=$KUBERNETES_VERSION-*" "kubeadm=$KUBERNETES_VERSION-*" "kubectl=$KUBERNETES_VERSION-*"
apt-mark hold kubelet kubeadm kubectl >/dev/null

# kubeadm configures the kubelet for the systemd cgroup driver; containerd must use the same one.
mkdir -p "$ROOT/etc/containerd"
containerd config default >"$ROOT/etc/containerd/config.toml"
sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' "$ROOT/etc/containerd/config.toml"
grep -q 'SystemdCgroup = true' "$ROOT/etc/containerd/config.toml" ||
  die "could not set SystemdCgroup = true in /etc/containerd/config.toml (unexpected containerd config layout)"
systemctl restart containerd
systemctl enable containerd kubelet

echo "$KUBERNETES_VERSION" >"$MARKER"
log "Kubernetes $KUBERNETES_VERSION packages installed and held"
