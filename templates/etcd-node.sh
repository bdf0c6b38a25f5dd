#!/usr/bin/env bash
# An external etcd member: installs the pinned etcd release (checksum verified), obtains the etcd
# CA (the first member creates and publishes it, the others wait for it), issues this member's
# certificates and starts etcd. The first member also issues the API servers' etcd client
# certificate and publishes it, with the CA certificate, for the control-plane nodes.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=etcd-node
PKI="$ROOT/etc/etcd/pki"
BIN="$ROOT/usr/local/bin"
# The member is set up when its certificates verify against the CA and the unit is enabled: a
# re-run after a failure in between issues the certificates again.
member_ok() {
  [[ -f $PKI/server.key && -f $PKI/peer.key ]] &&
    openssl verify -CAfile "$PKI/ca.crt" "$PKI/server.crt" "$PKI/peer.crt" >/dev/null 2>&1 &&
    systemctl is-enabled --quiet etcd
}
if [[ -f $STATE_DIR/etcd-member-ready ]] && member_ok; then
  log "etcd member $NODE_NAME is already set up"
  exit 0
fi
ensure_aws_cli
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! "$BIN/etcd" --version 2>/dev/null | grep -q "etcd Version: $ETCD_VERSION\$"; then
  arch="$(dpkg --print-architecture)"
  tarball="etcd-v$ETCD_VERSION-linux-$arch.tar.gz"
  url="https://github.com/etcd-io/etcd/releases/download/v$ETCD_VERSION"
  log "downloading $tarball"
  retry 5 curl -fsSL -o "$work/$tarball" "$url/$tarball"
  retry 5 curl -fsSL -o "$work/SHA256SUMS" "$url/SHA256SUMS"
  (cd "$work" && grep -E "^[0-9a-f]{64}  $tarball\$" SHA256SUMS | sha256sum --check --status) ||
    die "$tarball does not match the release's SHA256SUMS"
  tar -xzf "$work/$tarball" -C "$work"
  mkdir -p "$BIN"
  install -m 0755 "$work/etcd-v$ETCD_VERSION-linux-$arch/"{etcd,etcdctl,etcdutl} "$BIN/"
fi

mkdir -p "$PKI"
chmod 0700 "$PKI"
ca_parameter="$ETCD_PARAMETER_PREFIX/ca"
# A CA that does not decrypt was left by a destroyed deployment of the same stack name: the first
# member replaces it (put-parameter --overwrite), the others wait for the new one.
# Created only on a known answer (absent or stale): throttling and other errors are asked again.
if [[ $NODE_NAME == "$ETCD_FIRST_MEMBER" ]]; then
  wait_until "a known state of $ca_parameter.crt" ssm_state "$ca_parameter.crt"
fi
if [[ $NODE_NAME == "$ETCD_FIRST_MEMBER" && $SSM_STATE != present ]]; then
  log "creating the etcd CA"
  bash "$LIB_DIR/etcd-pki.sh" ca "$PKI"
  client="$work/client"
  mkdir -p "$client"
  cp "$PKI/ca.crt" "$PKI/ca.key" "$client/"
  bash "$LIB_DIR/etcd-pki.sh" client "$client" kube-apiserver-etcd-client apiserver-etcd-client
  # The client key before its certificate (the init node checks that they match).
  for file in $PKI_FROM_ETCD; do
    [[ $file == *.key ]] || continue
    ssm_put "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$file" "$client/${file#etcd/}" "$CONTROL_PLANE_KMS_KEY"
  done
  for file in $PKI_FROM_ETCD; do
    [[ $file != *.key ]] || continue
    ssm_put "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$file" "$client/${file#etcd/}" "$CONTROL_PLANE_KMS_KEY"
  done
  # ca.crt last: the other members wait for it, so they never see a CA without its key.
  ssm_put "$ca_parameter.key" "$PKI/ca.key" "$ETCD_KMS_KEY"
  ssm_put "$ca_parameter.crt" "$PKI/ca.crt" "$ETCD_KMS_KEY"
  log "published the etcd CA and the API servers' etcd client certificate"
else
  wait_until "the etcd CA from $ETCD_FIRST_MEMBER" ssm_readable "$ca_parameter.crt"
  ssm_get "$ca_parameter.key" "$PKI/ca.key"
  ssm_get "$ca_parameter.crt" "$PKI/ca.crt"
fi

bash "$LIB_DIR/etcd-pki.sh" member "$PKI" "$NODE_NAME" "$NODE_IP"
# Signing is done: the CA key stays only in the parameter store, not on every member's disk.
rm -f "$PKI/ca.key"

systemctl daemon-reload
systemctl enable etcd
# --no-block: etcd reports ready only once a quorum of members runs, which must not hold up boot.
systemctl start --no-block etcd
member_ok || die "the member certificates do not verify against $PKI/ca.crt or the etcd unit is not enabled"
touch "$STATE_DIR/etcd-member-ready"
log "etcd member $NODE_NAME started"
