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

log "loading kernel modules and sysctls"
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
# containerd's default also pins an older sandbox (pause) image than kubeadm's (a preflight
# warning, and two pause images on every node): use the one kubeadm names for this version.
# containerd 1.x calls that setting sandbox_image, 2.x sandbox.
pause="$(kubeadm config images list --kubernetes-version "v$KUBERNETES_VERSION" | grep '/pause:')" ||
  die "kubeadm config images list named no pause image"
config="$ROOT/etc/containerd/config.toml"
mkdir -p "${config%/*}"
containerd config default >"$config"
sed -i -E -e 's/SystemdCgroup = false/SystemdCgroup = true/' -e "s|^( *sandbox(_image)? = ).*|\1\"$pause\"|" "$config"
{ grep -q 'SystemdCgroup = true' "$config" && grep -Eq "^ *sandbox(_image)? = \"$pause\"\$" "$config"; } ||
  die "unexpected containerd config layout: cannot set SystemdCgroup = true and sandbox image $pause"
systemctl restart containerd
systemctl enable containerd kubelet

echo "$KUBERNETES_VERSION" >"$MARKER"
log "Kubernetes $KUBERNETES_VERSION packages installed and held"
