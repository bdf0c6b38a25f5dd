#!/usr/bin/env bash
# Joins this node to the cluster: waits (bounded) for join material whose CA verifies the live API
# behind the load balancer, writes the discovery kubeconfig (and, on a control-plane node, the
# shared certificates) and runs `kubeadm join`. A joined node (kubeadm-joined) is left alone.
# Usage: join-node.sh [KUBEADM_CONFIG]; the init node passes its kubeadm-join.yaml when it joins
# an existing cluster instead of creating one (init-control-plane.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=join-node
PKI="$ROOT/etc/kubernetes/pki"
config="$ROOT${1:-$KUBEADM_CONFIG}"
# kubeadm-joined: `kubeadm join` returned 0 (kubelet.conf alone does not say so: kubeadm writes it
# before its last phases). A kubelet.conf without it is a join that stopped half-way: reset first.
joined="$STATE_DIR/kubeadm-joined"
if [[ -f $joined ]]; then
  log "already joined"
  exit 0
fi
if [[ -f $ROOT/etc/kubernetes/kubelet.conf ]]; then kubeadm_reset; fi
ensure_aws_cli

discovery="$ROOT$DISCOVERY_KUBECONFIG"
ca="$RUN_DIR/cluster-ca.crt"
# The discovery kubeconfig holds the bootstrap token: it exists only for the join itself.
trap 'rm -f "$discovery" "$discovery.part"' EXIT
# The join material is trusted when it decrypts (only this deployment's KMS key can do that; a value
# left by a destroyed deployment cannot) and its CA verifies the live API at the load balancer.
# Its age does not matter: the timer keeps a valid token published, so a node that boots days
# later joins as well. Every failed check (not published, no decrypt, API down, other CA) is
# "not ready yet": fetch again on the next poll. errexit does not apply inside a wait condition,
# hence the explicit returns.
verified_join_material() {
  ssm_fetch "$JOIN_KUBECONFIG_PARAMETER" "$discovery" 2>/dev/null || return 1
  mv -f "$discovery.part" "$discovery" &&
    sed -n 's/^ *certificate-authority-data: *//p' "$discovery" | base64 -d >"$ca" 2>/dev/null || return 1
  curl -fsS --max-time 5 --cacert "$ca" -o /dev/null "https://$CONTROL_PLANE_ENDPOINT/readyz" 2>/dev/null
}
wait_until "join material whose CA verifies https://$CONTROL_PLANE_ENDPOINT/readyz" verified_join_material

if [[ $NODE_ROLE == control-plane ]]; then
  log "placing the shared certificates"
  for file in $PKI_FROM_INIT_NODE $PKI_FROM_ETCD; do
    ssm_get "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$file" "$PKI/$file"
  done
fi

log "running kubeadm join as $NODE_ROLE with ${config#"$ROOT"}"
run_logged kubeadm join --config "$config"
touch "$joined"
if [[ $NODE_ROLE == control-plane ]]; then systemctl enable --now "$JOIN_TOKEN_UNIT.timer"; fi
log "joined the cluster as $NODE_ROLE"
