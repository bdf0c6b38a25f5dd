#!/usr/bin/env bash
# Keeps every pod, hostNetwork pods included, away from the instance metadata service (IMDS), and
# so from the node's IAM role (on a control-plane node that role decrypts the cluster CA key).
# IMDSv2's hop limit of 1 stops only pods on the pod network: a hostNetwork pod (calico-node,
# kube-proxy, any user pod with hostNetwork: true) sends from the node's own network stack, zero
# hops away. What tells them apart is the cgroup: the kubelet (systemd cgroup driver) runs every
# container under kubepods.slice, the node's own services (this boot unit, the join-token timer,
# the SSM agent) elsewhere. So locally sent packets to IMDS from kubepods.slice are rejected.
# The rule lives in memory: the boot unit runs this on every boot, and it is added only once.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=guard-imds
cgroup=kubepods.slice
rule=(OUTPUT -d 169.254.169.254/32 -m cgroup --path "$cgroup" -j REJECT)
# iptables resolves the cgroup path when the rule is added: the kubelet must have created it.
wait_until "the kubelet's cgroup $cgroup" test -d "$ROOT/sys/fs/cgroup/$cgroup"
if iptables -w -C "${rule[@]}" 2>/dev/null; then
  log "pods are already kept away from the instance metadata service"
  exit 0
fi
iptables -w -I "${rule[@]}"
log "pods (hostNetwork ones too) are kept away from the instance metadata service"
