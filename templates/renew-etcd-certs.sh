#!/usr/bin/env bash
# Certificate renewal on an external etcd member, run daily by kubeadm-ha-cert-renewal.timer. The
# member's server and peer certificates (templates/etcd-pki.sh, 5 years) are reissued from
# CERT_RENEW_SECONDS left, with the etcd CA key fetched from the parameter store for the signing
# and deleted right after, as at boot. etcd is not restarted: it reloads its certificates on every
# new connection (etcd 3.2+). The first member also reissues the API servers' etcd client
# certificate when its own record of it is missing or due, and publishes it (key first); each
# control-plane node's renew-certs.sh installs it once theirs is due.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=renew-etcd-certs
PKI="$ROOT/etc/etcd/pki"
seconds_left() { echo $(($(date -d "$(openssl x509 -enddate -noout -in "$1" | cut -d= -f2)" +%s) - $(date +%s))); }
left="$(seconds_left "$PKI/server.crt")"
peer_left="$(seconds_left "$PKI/peer.crt")"
((peer_left >= left)) || left=$peer_left
record="$STATE_DIR/apiserver-etcd-client.crt"
client_due=false
if [[ $NODE_NAME == "$ETCD_FIRST_MEMBER" ]] && { [[ ! -f $record ]] || (($(seconds_left "$record") < CERT_RENEW_SECONDS)); }; then client_due=true; fi
if ((left < CERT_WARN_SECONDS)); then log "WARNING: the etcd member certificates expire in $((left / 86400)) days"; fi
if ((left >= CERT_RENEW_SECONDS)) && ! $client_due; then
  log "etcd member certificates valid for $((left / 86400)) more days"
  exit 0
fi
ensure_aws_cli
work="$(mktemp -d)"
trap 'rm -rf "$work"; rm -f "$PKI/ca.key"' EXIT
ssm_get "$ETCD_PARAMETER_PREFIX/ca.key" "$PKI/ca.key"
if ((left < CERT_RENEW_SECONDS)); then
  bash "$LIB_DIR/etcd-pki.sh" member "$PKI" "$NODE_NAME" "$NODE_IP"
  log "renewed this member's server and peer certificates"
fi
if $client_due; then
  cp "$PKI/ca.crt" "$PKI/ca.key" "$work/"
  bash "$LIB_DIR/etcd-pki.sh" client "$work" kube-apiserver-etcd-client apiserver-etcd-client
  for file in $PKI_FROM_ETCD; do
    [[ $file == *.key ]] || continue
    ssm_put "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$file" "$work/${file#etcd/}" "$CONTROL_PLANE_KMS_KEY"
  done
  for file in $PKI_FROM_ETCD; do
    [[ $file != *.key ]] || continue
    ssm_put "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$file" "$work/${file#etcd/}" "$CONTROL_PLANE_KMS_KEY"
  done
  cp "$work/apiserver-etcd-client.crt" "$record"
  log "published a renewed etcd client certificate for the API servers"
fi
