#!/usr/bin/env bash
# The init node: `kubeadm init`, the pod network, then everything the other nodes wait for, in
# this order: shared certificates, admin kubeconfig and last the join kubeconfig (a node that
# sees the join kubeconfig can rely on the rest being there). Safe to re-run: an initialised node
# is never initialised again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=init-control-plane
ADMIN_CONF="$ROOT/etc/kubernetes/admin.conf"
PKI="$ROOT/etc/kubernetes/pki"
ensure_aws_cli

initialised_now=false
if [[ -f $ADMIN_CONF ]]; then
  log "this node is already initialised (admin.conf exists); skipping kubeadm init"
else
  for file in $PKI_FROM_ETCD; do
    wait_until "$file from the etcd nodes" ssm_exists "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$file"
    ssm_get "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$file" "$PKI/$file"
  done
  log "running kubeadm init for $CONTROL_PLANE_ENDPOINT"
  # --skip-token-print: kubeadm's default token must not reach the log or the console.
  run_logged kubeadm init --config "$ROOT$KUBEADM_CONFIG" --skip-token-print
  initialised_now=true
fi
export KUBECONFIG="$ADMIN_CONF"

if [[ ! -f $STATE_DIR/cni-installed ]]; then
  log "installing the $CNI_PLUGIN pod network"
  for url in $CNI_MANIFEST_URLS; do
    # Server-side: the operator CRDs exceed the client-side apply annotation limit.
    retry 5 kubectl apply --server-side --force-conflicts -f "$url" >/dev/null
  done
  if [[ -n $CNI_RESOURCE_CRD ]]; then
    wait_until "CRD $CNI_RESOURCE_CRD" kubectl get crd "$CNI_RESOURCE_CRD" -o name
    kubectl wait --for condition=established --timeout=120s "crd/$CNI_RESOURCE_CRD" >/dev/null
  fi
  retry 5 kubectl apply --server-side --force-conflicts -f "$ROOT$CNI_RESOURCE" >/dev/null
  if [[ -n $CNI_RESTART_DAEMONSET ]]; then
    kubectl -n "${CNI_RESTART_DAEMONSET%/*}" rollout restart "daemonset/${CNI_RESTART_DAEMONSET#*/}" >/dev/null
  fi
  touch "$STATE_DIR/cni-installed"
fi

# After a fresh init every published value is replaced: values left by an earlier cluster of the
# same stack name would be wrong. Otherwise only missing values are published.
publish() {
  if $initialised_now || ! ssm_exists "$1"; then
    ssm_put "$1" "$2" "$CONTROL_PLANE_KMS_KEY"
    log "published $1"
  fi
}
for file in $PKI_FROM_INIT_NODE; do publish "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$file" "$PKI/$file"; done
publish "$ADMIN_KUBECONFIG_PARAMETER" "$ADMIN_CONF"

if $initialised_now; then
  bash "$LIB_DIR/refresh-join-token.sh" --force
else
  bash "$LIB_DIR/refresh-join-token.sh"
fi
systemctl enable --now "$JOIN_TOKEN_UNIT.timer"
log "control plane initialised; join material published"
