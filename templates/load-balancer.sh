#!/usr/bin/env bash
# The API load balancer: installs the packages of the spec's kind (lib/load-balancers/) and starts
# its service with the rendered configuration, but only after the program itself has validated
# that configuration. The kind's packages, check command and service come from cluster.env, so a
# new kind needs no change here.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=load-balancer
config="$ROOT$LB_CONFIG"
read -ra packages <<<"$LB_PACKAGES"
read -ra check <<<"$LB_CONFIG_CHECK"
check+=("$config")
service=$LB_SERVICE
[[ ${#packages[@]} -gt 0 && ${#check[@]} -gt 1 && -n $service ]] || die "cluster.env lacks LB_PACKAGES, LB_CONFIG_CHECK or LB_SERVICE"

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
