# shellcheck shell=bash
# shellcheck disable=SC2154 # left() and etcd_left come from renew-certs.sh.
# Sourced by renew-certs.sh on control-plane nodes with external etcd, when the API server's etcd
# client certificate is due. etcd-1 (which holds the etcd CA key) reissues and publishes it
# (renew-etcd-certs.sh); this fetches the published set into $new and keeps it only when it is a
# matching set (the certificate holds the key's public key and verifies against the etcd CA) that
# outlives the installed certificate. renew-certs.sh installs it and restarts the API server.
new="$RUN_DIR/etcd-client"
for f in $PKI_FROM_ETCD; do ssm_get "$CONTROL_PLANE_PKI_PARAMETER_PREFIX/$f" "$new/$f"; done
c="$new/apiserver-etcd-client"
if ! { [[ $(openssl x509 -noout -pubkey -in "$c.crt") == "$(openssl pkey -pubout -in "$c.key")" ]] &&
  openssl verify -CAfile "$new/etcd/ca.crt" "$c.crt" >/dev/null && (($(left "$c.crt") > etcd_left)); }; then
  log "WARNING: etcd-1 has not published a renewed etcd client certificate yet"
  new=""
fi
