#!/usr/bin/env bash
# The API load balancer: installs HAProxy or NGINX (with the stream module) and starts it with the
# rendered configuration, but only after the program itself has validated that configuration.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=load-balancer
config="$ROOT$LB_CONFIG"
case $LB_KIND in
  haproxy) packages=(haproxy) check=(haproxy -c -q -f "$config") ;;
  nginx) packages=(nginx libnginx-mod-stream) check=(nginx -t -q -c "$config") ;;
  *) die "unknown load balancer kind '$LB_KIND'" ;;
esac
service=$LB_KIND

if [[ ! -f $STATE_DIR/load-balancer-installed ]]; then
  log "installing ${packages[*]}"
  apt_get update
  # --force-confold (in apt_get) keeps the configuration cloud-init already wrote.
  apt_get install "${packages[@]}"
  touch "$STATE_DIR/load-balancer-installed"
fi

"${check[@]}" || die "$LB_CONFIG is rejected by $LB_KIND (output above); not starting it"
digest="$(sha256sum <"$config")"
if [[ "$(cat "$STATE_DIR/load-balancer.sha256" 2>/dev/null)" == "$digest" ]] && systemctl is-active --quiet "$service"; then
  log "$service already runs this configuration"
  exit 0
fi
systemctl enable "$service"
systemctl restart "$service"
echo "$digest" >"$STATE_DIR/load-balancer.sha256"
log "$service serves the API endpoint $CONTROL_PLANE_ENDPOINT"
