#!/usr/bin/env bash
# Publishes the join kubeconfig (cluster CA + a fresh bootstrap token) for nodes that boot later.
# Run by the init node and then hourly by a timer on every control-plane node; it only creates a
# token when the published one is older than JOIN_TOKEN_REFRESH_AFTER_SECONDS (--force: always).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=refresh-join-token
ADMIN_CONF="$ROOT/etc/kubernetes/admin.conf"
ensure_aws_cli

umask 077
mkdir -p "$RUN_DIR"
kubeconfig="$RUN_DIR/join-publish.kubeconfig"
trap 'rm -f "$kubeconfig" "$kubeconfig.part"' EXIT

# The published token still works: its bootstrap-token Secret exists (kubeadm token delete and the
# token cleaner, at expiry, remove it). Only the token's id, its public half, reaches argv.
published_token_valid() {
  local id
  ssm_fetch "$JOIN_KUBECONFIG_PARAMETER" "$kubeconfig" 2>/dev/null || return 1
  id="$(sed -n 's/^ *token: *\([a-z0-9]\{6\}\)\..*/\1/p' "$kubeconfig.part")"
  rm -f "$kubeconfig.part"
  [[ -n $id ]] && kubectl --kubeconfig "$ADMIN_CONF" -n kube-system get secret "bootstrap-token-$id" -o name >/dev/null 2>&1
}

# Recent enough: written less than JOIN_TOKEN_REFRESH_AFTER_SECONDS ago AND decryptable (with
# --with-decryption the call fails on a value left by a destroyed deployment of the same stack name)
# AND its token still valid (a revoked token is replaced at once, not hours later).
if [[ ${1:-} != --force ]] && modified="$(ssm get-parameter --name "$JOIN_KUBECONFIG_PARAMETER" \
  --with-decryption --query Parameter.LastModifiedDate --output text 2>/dev/null)" &&
  (($(date -d "$modified" +%s) > $(date +%s) - JOIN_TOKEN_REFRESH_AFTER_SECONDS)); then
  if published_token_valid; then
    log "the published join token is recent"
    exit 0
  fi
  log "the published join token is no longer valid (expired or revoked); publishing a new one"
fi

# The token only ever lives in this variable and the 0600 file below, never in argv or the log.
token="$(kubeadm token create --kubeconfig "$ADMIN_CONF" --ttl "$JOIN_TOKEN_TTL" \
  --description "kubeadm-ha join token from $NODE_NAME")"
ca_data="$(base64 -w0 "$ROOT/etc/kubernetes/pki/ca.crt")"
cat >"$kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: $STACK
  cluster:
    certificate-authority-data: $ca_data
    server: https://$CONTROL_PLANE_ENDPOINT
users:
- name: tls-bootstrap-token-user
  user:
    token: $token
contexts:
- name: join@$STACK
  context:
    cluster: $STACK
    user: tls-bootstrap-token-user
current-context: join@$STACK
KUBECONFIG
ssm_put "$JOIN_KUBECONFIG_PARAMETER" "$kubeconfig" "$JOIN_KMS_KEY"
log "published a new join token (valid $JOIN_TOKEN_TTL) to $JOIN_KUBECONFIG_PARAMETER"
