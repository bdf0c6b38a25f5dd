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
# One control-plane join at a time: etcd admits one learner member at a time. The lease is an SSM
# parameter (not secret: a String) that put-parameter creates only while it is absent, holding its
# holder and expiry. The holder deletes it when its join ends; a holder that died leaves it to
# expire (JOIN_LEASE_SECONDS, well beyond a join), then the next node deletes it.
lease=${CONTROL_PLANE_JOIN_LEASE_PARAMETER:-}
JOIN_LEASE_SECONDS="${KUBEADM_HA_JOIN_LEASE_SECONDS:-900}"
lease_value() { ssm get-parameter --name "$lease" --query Parameter.Value --output text 2>/dev/null; }
take_lease() {
  local holder expires
  ssm put-parameter --name "$lease" --type String --value "$NODE_NAME $((EPOCHSECONDS + JOIN_LEASE_SECONDS))" >/dev/null 2>&1 && return
  read -r holder expires <<<"$(lease_value)" || return 1
  # Released between the two calls: try again on the next poll.
  [[ $expires =~ ^[0-9]+$ ]] || return 1
  # Ours, from an attempt that stopped without releasing it (a reboot): no other node has this name.
  if [[ $holder == "$NODE_NAME" ]]; then
    ssm put-parameter --name "$lease" --type String --overwrite --value "$NODE_NAME $((EPOCHSECONDS + JOIN_LEASE_SECONDS))" >/dev/null 2>&1
    return
  fi
  note "the control-plane join lease is held by $holder until $(date -u -d "@$expires" +%FT%TZ)"
  if ((EPOCHSECONDS >= expires)) && [[ $(lease_value) == "$holder $expires" ]]; then
    log "the join lease of $holder expired; removing it"
    ssm delete-parameter --name "$lease" >/dev/null 2>&1 || true
  fi
  return 1
}
release_lease() {
  [[ -n ${lease:-} && ${lease_held:-} == true && $(lease_value) == "$NODE_NAME "* ]] || return 0
  ssm delete-parameter --name "$lease" >/dev/null 2>&1 || log "could not release $lease; it expires by itself"
}

# The discovery kubeconfig holds the bootstrap token: it exists only for the join itself.
trap 'rm -f "$discovery" "$discovery.part"; release_lease' EXIT
# The join material is trusted when it decrypts (only this deployment's KMS key can do that; a value
# left by a destroyed deployment cannot) and its CA verifies the live API at the load balancer.
# Its age does not matter: the timer keeps a valid token published, so a node that boots days
# later joins as well. Every failed check (not published, no decrypt, API down, other CA) is
# "not ready yet": fetch again on the next poll. errexit does not apply inside a wait condition,
# hence the explicit returns.
verified_join_material() {
  ssm_fetch "$JOIN_KUBECONFIG_PARAMETER" "$discovery" 2>/dev/null || { note "no join material to read at $JOIN_KUBECONFIG_PARAMETER yet"; return 1; }
  mv -f "$discovery.part" "$discovery" &&
    sed -n 's/^ *certificate-authority-data: *//p' "$discovery" | base64 -d >"$ca" 2>/dev/null || return 1
  curl -fsS --max-time 5 --cacert "$ca" -o /dev/null "https://$CONTROL_PLANE_ENDPOINT/readyz" 2>/dev/null ||
    { note "https://$CONTROL_PLANE_ENDPOINT/readyz is not ready or not served with the published CA"; return 1; }
  # The token as well: an expired or revoked one would pass the checks above and fail in the TLS
  # bootstrap. kubeadm lets bootstrap tokens read kubeadm-config; the API refuses an invalid token.
  kubectl --kubeconfig "$discovery" --request-timeout=5s get --raw /api/v1/namespaces/kube-system/configmaps/kubeadm-config >/dev/null 2>&1 ||
    { note "the API refuses the published join token (expired or revoked): waiting for a control-plane node to publish a new one"; return 1; }
}
wait_until "join material whose CA verifies https://$CONTROL_PLANE_ENDPOINT/readyz and whose token the API accepts" verified_join_material

if [[ $NODE_ROLE == control-plane ]]; then
  log "placing the shared certificates"
  for file in $PKI_FROM_INIT_NODE $PKI_FROM_ETCD; do
    ssm_get "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$file" "$PKI/$file"
  done
fi

if [[ $NODE_ROLE == control-plane ]]; then
  wait_until "the control-plane join lease $lease" take_lease
  lease_held=true
  log "holding the control-plane join lease"
fi
log "running kubeadm join as $NODE_ROLE with ${config#"$ROOT"}"
run_logged kubeadm join --config "$config"
touch "$joined"
release_lease
lease_held=false
if [[ $NODE_ROLE == control-plane ]]; then systemctl enable --now "$JOIN_TOKEN_UNIT.timer"; fi
log "joined the cluster as $NODE_ROLE"
