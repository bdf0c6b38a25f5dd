#!/usr/bin/env bash
# The init node: `kubeadm init`, the pod network, then everything the other nodes wait for, in
# this order: shared certificates, admin kubeconfig and last the join kubeconfig (a node that
# sees the join kubeconfig can rely on the rest being there). Safe to re-run: an initialised node
# (kubeadm-init-done) is never initialised again; an init that stopped half-way is reset and run
# again. A replacement of the init node finds this deployment's cluster already there and joins it
# as a control-plane node instead (join-node.sh with kubeadm-join.yaml).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=init-control-plane
ADMIN_CONF="$ROOT/etc/kubernetes/admin.conf"
PKI="$ROOT/etc/kubernetes/pki"
ETCD_MEMBERS_WAIT_SECONDS="${KUBEADM_HA_ETCD_MEMBERS_WAIT_SECONDS:-600}"
ensure_aws_cli

# kubeadm-init-done: `kubeadm init` returned 0 (admin.conf alone does not say so: kubeadm writes it
# early). join-decided: this replacement decided to join (written before the join).
# An init node set up by an earlier version of this script has cni-installed instead.
init_done="$STATE_DIR/kubeadm-init-done"
joining="$STATE_DIR/join-decided"
[[ ! -f $STATE_DIR/cni-installed ]] || touch "$init_done"

# This deployment already has a cluster when its join kubeconfig decrypts: only this deployment's
# KMS key can decrypt it (a value left by a destroyed deployment of the same stack name cannot).
# Then never `kubeadm init` (a second CA would be published over the live cluster): join it. The
# decision is taken only on a known answer (present, absent or stale): throttling and other errors
# are asked again. It is recorded before the join, so a re-run after a failed join joins again.
[[ -f $init_done || -f $joining ]] || wait_until "a known state of $JOIN_KUBECONFIG_PARAMETER" ssm_state "$JOIN_KUBECONFIG_PARAMETER"
[[ ${SSM_STATE:-} != present ]] || touch "$joining"
if [[ -f $joining ]]; then
  log "this deployment has a cluster: joining it"
  bash "$LIB_DIR/join-node.sh" "$KUBEADM_JOIN_CONFIG" ||
    die "the existing cluster's API at https://$CONTROL_PLANE_ENDPOINT is unreachable or the join failed; no kubeadm init. To start over, delete the /kubeadm-ha/$STACK/ parameters"
  exit 0
fi

# The etcd client certificate, its key and the etcd CA as one matching set (the certificate holds
# the key's public key and verifies against the CA): etcd-1 issues a new client key when it re-runs.
etcd_set() {
  for file in $PKI_FROM_ETCD; do ssm_fetch "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$file" "$PKI/$file" && mv -f "$PKI/$file.part" "$PKI/$file" || return; done
  c=$PKI/apiserver-etcd-client
  [[ $(openssl x509 -noout -pubkey -in "$c.crt") == "$(openssl pkey -pubout -in "$c.key")" ]] && openssl verify -CAfile "$PKI/etcd/ca.crt" "$c.crt"
} &>/dev/null

# External etcd, as kube-apiserver will use it: with the client certificate, through every member.
etcd_get() {
  curl -fsS --max-time 5 --cacert "$PKI/etcd/ca.crt" --cert "$PKI/apiserver-etcd-client.crt" \
    --key "$PKI/apiserver-etcd-client.key" -o /dev/null "$1" 2>/dev/null
}
# A quorum: /health answers 200 only while the cluster has a leader (any member can tell).
etcd_quorum() {
  for endpoint in $ETCD_ENDPOINTS; do etcd_get "$endpoint/health" && return; done
  note "etcd has no quorum yet (no member's /health answers)"
  return 1
}
etcd_members() {
  silent=""
  for endpoint in $ETCD_ENDPOINTS; do etcd_get "$endpoint/version" || silent+=" $endpoint"; done
  [[ -z $silent ]] || { note "etcd members not answering /version yet:$silent"; return 1; }
}

# What answers at the API endpoint, through the load balancer: curl's exit code, 0 when an API
# server answered over TLS; 6, 7 and 28 when nothing accepts connections there yet.
endpoint_probe() {
  probe=0
  curl -sk --connect-timeout 3 --max-time 5 -o /dev/null "https://$CONTROL_PLANE_ENDPOINT/livez" 2>/dev/null || probe=$?
}
lb_accepts() { endpoint_probe && ((probe != 6 && probe != 7 && probe != 28)); }

initialised_now=false
if [[ -f $init_done ]]; then
  log "already initialised"
else
  # admin.conf without kubeadm-init-done: an earlier kubeadm init stopped half-way.
  if [[ -f $ADMIN_CONF ]]; then kubeadm_reset; fi
  preflight=()
  if [[ -n $PKI_FROM_ETCD ]]; then
    wait_until "a matching etcd client cert and key" etcd_set
    # kubeadm init's ExternalEtcdVersion preflight check GETs /version on every endpoint and fails
    # for good on any miss. So: a quorum first, then every member answering, for at most
    # ETCD_MEMBERS_WAIT_SECONDS. A member still silent then (dead, or being replaced) does not
    # hold the cluster back while the quorum is there: that one check is skipped, and the log says so.
    wait_until "an etcd quorum" etcd_quorum
    if ! poll_until "$ETCD_MEMBERS_WAIT_SECONDS" "every etcd member" etcd_members; then
      etcd_quorum || die "etcd lost its quorum while waiting for its members"
      log "etcd members silent after ${ETCD_MEMBERS_WAIT_SECONDS}s:$silent; etcd has a quorum, so kubeadm init runs without its ExternalEtcdVersion preflight check"
      preflight=(--ignore-preflight-errors=ExternalEtcdVersion)
    fi
  fi
  # kubeadm init's upload phases go through controlPlaneEndpoint, the load balancer. A proxy on a
  # node (HAProxy, NGINX) accepts connections before any backend is up: wait for it. A balancer
  # that hands connections to the targets (WAIT_FOR_LOAD_BALANCER=false) refuses them until then.
  if [[ ${WAIT_FOR_LOAD_BALANCER:-true} == true ]]; then
    wait_until "the load balancer to accept connections at $CONTROL_PLANE_ENDPOINT" lb_accepts
  else
    endpoint_probe
  fi
  # Nothing may answer there yet: an API server that does belongs to a live cluster, whatever the
  # parameter store said, and a second CA must never be published over it.
  ((probe != 0)) || die "an API server already answers at https://$CONTROL_PLANE_ENDPOINT: refusing kubeadm init over a live cluster (its join material at $JOIN_KUBECONFIG_PARAMETER does not decrypt here)"
  log "running kubeadm init for $CONTROL_PLANE_ENDPOINT ${preflight[*]}"
  # --skip-token-print: kubeadm's default token must not reach the log or the console.
  run_logged kubeadm init --config "$ROOT$KUBEADM_CONFIG" --skip-token-print "${preflight[@]}"
  touch "$init_done"
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
    retry 5 kubectl wait --for condition=established --timeout=120s "crd/$CNI_RESOURCE_CRD" >/dev/null
  fi
  retry 5 kubectl apply --server-side --force-conflicts -f "$ROOT$CNI_RESOURCE" >/dev/null
  if [[ -n $CNI_RESTART_DAEMONSET ]]; then
    retry 5 kubectl -n "${CNI_RESTART_DAEMONSET%/*}" rollout restart "daemonset/${CNI_RESTART_DAEMONSET#*/}" >/dev/null
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
