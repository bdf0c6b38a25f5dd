#!/usr/bin/env bash
# Certificate renewal on a control-plane node, run daily by kubeadm-ha-cert-renewal.timer (each node
# at its own hour). Reads the expiry of every kubeadm-managed certificate (kubeadm certs
# check-expiration) and, with external etcd, of the API server's etcd client certificate. Logs a
# warning from CERT_WARN_SECONDS left; from CERT_RENEW_SECONDS left it takes the cluster-wide renewal
# lock (a Lease in kube-system, so no two control-plane nodes restart together), runs `kubeadm certs
# renew all`, restarts the static control-plane pods one by one by moving their manifests out and
# back, waits for the local API server, republishes admin.conf and releases the lock. stacked etcd
# keeps running: it reloads its certificates on every new connection, and restarting one of two
# members would stop writes. An interrupted run puts paused manifests back first.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=renew-certs
PKI="$ROOT/etc/kubernetes/pki"
MANIFESTS="$ROOT/etc/kubernetes/manifests"
PAUSED="$STATE_DIR/paused-manifests"
export KUBECONFIG="$ROOT/etc/kubernetes/admin.conf"
mkdir -p "$PAUSED"
for m in "$PAUSED"/*.yaml; do
  [[ ! -f $m ]] || { log "putting back ${m##*/} (interrupted run)"; mv -f "$m" "$MANIFESTS/"; }
done

left() { echo $(($(date -d "$(openssl x509 -enddate -noout -in "$1" | cut -d= -f2)" +%s) - $(date +%s))); }
list="$(kubeadm certs check-expiration -o 'jsonpath={range .certificates[*]}{.name} {.residualTime} {.externallyManaged} {.missing}{"\n"}{end}')" ||
  die "kubeadm certs check-expiration failed"
kubeadm_left="" name=""
while read -r cert secs external missing; do
  [[ -n $cert && $external == false && $missing != true ]] || continue
  if [[ -z $kubeadm_left ]] || ((secs < kubeadm_left)); then kubeadm_left=$secs name=$cert; fi
done <<<"$list"
[[ -n $kubeadm_left ]] || die "kubeadm listed no certificate"
soonest=$kubeadm_left
etcd_left=$CERT_WARN_SECONDS
if [[ -n $PKI_FROM_ETCD ]]; then
  etcd_left="$(left "$PKI/apiserver-etcd-client.crt")"
  if ((etcd_left < soonest)); then soonest=$etcd_left name=apiserver-etcd-client; fi
fi
if ((soonest >= CERT_WARN_SECONDS)); then
  log "certificates valid for $((soonest / 86400))+ days"; exit 0
fi
log "WARNING: certificate $name expires in $((soonest / 86400)) days"

# External etcd: renew-etcd-client.sh sets `new` to a renewed client certificate set, if one is due and published.
new=""
if ((etcd_left < CERT_RENEW_SECONDS)); then
  # shellcheck source=renew-etcd-client.sh
  . "$LIB_DIR/renew-etcd-client.sh"
fi
((kubeadm_left < CERT_RENEW_SECONDS)) || [[ -n $new ]] || exit 0

holder() { kubectl -n kube-system get lease "$CERT_LOCK" -o 'jsonpath={.spec.holderIdentity} {.spec.acquireTime}'; }
lock() {
  printf 'apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: %s, namespace: kube-system}\nspec: {holderIdentity: %s, acquireTime: "%s"}\n' \
    "$CERT_LOCK" "$NODE_NAME" "$(date -u +%FT%T.000000Z)" | kubectl create -f - >/dev/null 2>&1 && return
  local h
  h="$(holder 2>/dev/null)" || return
  [[ ${h%% *} != "$NODE_NAME" ]] || return 0
  # A lock is broken only on a readable acquire time (date -d "" would be today's midnight).
  [[ ${h#* } == *T* ]] || return 1
  if (($(date +%s) - $(date -d "${h#* }" +%s) > CERT_LOCK_STALE_SECONDS)); then
    log "breaking the stale renewal lock of ${h%% *}"
    kubectl -n kube-system delete lease "$CERT_LOCK" >/dev/null 2>&1
  fi
  return 1
}
# Already expired: the API, and with it the lock, is gone anyway.
locked=false
if ((soonest > 0)); then
  wait_until "the renewal lock (lease kube-system/$CERT_LOCK)" lock
  locked=true
  log "holding the renewal lock"
fi
if ((kubeadm_left < CERT_RENEW_SECONDS)); then run_logged kubeadm certs renew all; fi
if [[ -n $new ]]; then
  for f in $PKI_FROM_ETCD; do install -m 0600 "$new/$f" "$PKI/$f"; done
  log "installed the renewed etcd client certificate"
fi

running() { [[ -n $(crictl ps --name "^$1\$" --state running -q) ]]; }
stopped() { ! running "$1"; }
ready() { curl -fsS -m 5 --cacert "$PKI/ca.crt" "https://$NODE_IP:6443/readyz" >/dev/null 2>&1; }
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  [[ -f $MANIFESTS/$c.yaml ]] || continue
  mv -f "$MANIFESTS/$c.yaml" "$PAUSED/"
  wait_until "$c to stop" stopped "$c"
  mv -f "$PAUSED/$c.yaml" "$MANIFESTS/"
  wait_until "$c to run" running "$c"
  log "restarted $c"
done
wait_until "the local API server" ready
ssm_put "$ADMIN_KUBECONFIG_PARAMETER" "$KUBECONFIG" "$CONTROL_PLANE_KMS_KEY"
if $locked; then kubectl -n kube-system delete lease "$CERT_LOCK" >/dev/null; fi
log "certificates renewed; admin.conf republished"
