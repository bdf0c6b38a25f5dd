#!/usr/bin/env bash
# The init node: `kubeadm init`, the pod network, then everything the other nodes wait for, in
# this order: shared certificates, admin kubeconfig and last the join kubeconfig (a node that
# sees the join kubeconfig can rely on the rest being there). Safe to re-run: an initialised node
# is never initialised again. A replacement of the init node finds this deployment's cluster
# already there and joins it as a control-plane node instead (join-node.sh with kubeadm-join.yaml).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=init-control-plane
ADMIN_CONF="$ROOT/etc/kubernetes/admin.conf"
PKI="$ROOT/etc/kubernetes/pki"
ensure_aws_cli

# This deployment already has a cluster when its join kubeconfig decrypts: only this deployment's
# KMS key can decrypt it (a value left by a destroyed deployment of the same stack name cannot).
# Then never `kubeadm init` (a second CA would be published over the live cluster): join it. The
# check is retried, so one throttled call cannot be taken for "no cluster".
joined="$STATE_DIR/joined-existing-cluster"
if [[ -f $joined ]] || { [[ ! -f $ADMIN_CONF ]] && retry 3 ssm_readable "$JOIN_KUBECONFIG_PARAMETER"; }; then
  log "this deployment has a cluster ($JOIN_KUBECONFIG_PARAMETER decrypts): joining it, no kubeadm init"
  bash "$LIB_DIR/join-node.sh" "$KUBEADM_JOIN_CONFIG" ||
    die "the existing cluster's API at https://$CONTROL_PLANE_ENDPOINT is unreachable or the join failed; no kubeadm init over it. To start over, delete the /kubeadm-ha/$STACK/ parameters and rerun boot.sh"
  touch "$joined"
  exit 0
fi

initialised_now=false
if [[ -f $ADMIN_CONF ]]; then
  log "this node is already initialised (admin.conf exists); skipping kubeadm init"
else
  for file in $PKI_FROM_ETCD; do
    wait_until "$file from the etcd nodes" ssm_readable "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$file"
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
# same stack name would be wrong. Otherwise only values that are missing or do not decrypt (left by
# a destroyed deployment) are published.
publish() {
  if $initialised_now || ! ssm_readable "$1"; then
    ssm_put "$1" "$2" "$CONTROL_PLANE_KMS_KEY"
    log "published $1"
  fi
}
for file in $PKI_FROM_INIT_NODE; do publish "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$file" "$PKI/$file"; done
publish "$ADMIN_KUBECONFIG_PARAMETER" "$ADMIN_CONF"

# After a fresh init, --force: a join kubeconfig from before (even a recent one) has the wrong CA.
bash "$LIB_DIR/refresh-join-token.sh" "$($initialised_now && echo --force)"
systemctl enable --now "$JOIN_TOKEN_UNIT.timer"
log "control plane initialised; join material published"
