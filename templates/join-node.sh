#!/usr/bin/env bash
# Joins this node to the cluster: waits (bounded) for the init node's join material and for the
# API behind the load balancer, writes the discovery kubeconfig (and, on a control-plane node, the
# shared certificates) and runs `kubeadm join`. A joined node (kubelet.conf exists) is left alone.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=join-node
PKI="$ROOT/etc/kubernetes/pki"
if [[ -f $ROOT/etc/kubernetes/kubelet.conf ]]; then
  log "already joined (kubelet.conf exists); nothing to do"
  exit 0
fi
ensure_aws_cli

discovery="$ROOT$DISCOVERY_KUBECONFIG"
# The discovery kubeconfig holds the bootstrap token: it exists only for the join itself.
trap 'rm -f "$discovery"' EXIT
wait_until "join material from the init node at $JOIN_KUBECONFIG_PARAMETER" \
  parameter_newer_than "$JOIN_KUBECONFIG_PARAMETER" "$(($(first_boot_epoch) - 300))"
ssm_get "$JOIN_KUBECONFIG_PARAMETER" "$discovery"

ca="$RUN_DIR/cluster-ca.crt"
sed -n 's/^ *certificate-authority-data: *//p' "$discovery" | base64 -d >"$ca"
wait_until "the API server at https://$CONTROL_PLANE_ENDPOINT/readyz" \
  curl -fsS --max-time 5 --cacert "$ca" -o /dev/null "https://$CONTROL_PLANE_ENDPOINT/readyz"

if [[ $NODE_ROLE == control-plane ]]; then
  log "placing the shared control-plane certificates in /etc/kubernetes/pki"
  for file in $PKI_FROM_INIT_NODE $PKI_FROM_ETCD; do
    ssm_get "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$file" "$PKI/$file"
  done
fi

log "running kubeadm join as $NODE_ROLE"
run_logged kubeadm join --config "$ROOT$KUBEADM_CONFIG"
if [[ $NODE_ROLE == control-plane ]]; then systemctl enable --now "$JOIN_TOKEN_UNIT.timer"; fi
log "joined the cluster as $NODE_ROLE"
