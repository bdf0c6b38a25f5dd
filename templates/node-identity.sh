# shellcheck shell=bash
# An Auto Scaling group's worker has no name, address or zone planned at synth: its cluster.env
# sources this file last, so every boot script knows them. On the instance's first boot it asks the
# instance metadata service, IMDSv2 as the launch template requires (a session token by PUT first),
# for the instance id, private IP and zone, writes NODE_NAME, NODE_IP and NODE_ZONE to
# NODE_IDENTITY_ENV and KUBEADM_CONFIG from KUBEADM_CONFIG_TEMPLATE with them; later it only reads
# NODE_IDENTITY_ENV back. The node name is NODE_NAME_PREFIX-<instance id>: EC2 never reuses an
# instance id, while a private IP (and the ip-... hostname made from it) comes back with a later
# instance, whose Node object would then be taken for the old one's.
node_identity() {
  local root="${KUBEADM_HA_ROOT:-}" imds=http://169.254.169.254/latest token="" attempt instance_id ip zone name
  local log="$root/var/log/kubeadm-ha-bootstrap.log"
  say() { printf '%s %s node-identity: %s\n' "$(date -u +%FT%TZ)" "$NODE_NAME_PREFIX-(new)" "$*" | tee -a "$log" >&2; }
  mkdir -p "${log%/*}"
  # A token for 5 minutes, enough for the reads below; the metadata service may answer late just
  # after launch, so a few attempts.
  for attempt in 1 2 3 4 5; do
    token=$(curl -fsS --max-time 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" "$imds/api/token") && break
    say "attempt $attempt of 5 to get an IMDSv2 token failed"
    sleep "${KUBEADM_HA_POLL_SECONDS:-10}"
  done
  [[ -n $token ]] || { say "FAILED: no IMDSv2 token from $imds/api/token"; return 1; }
  metadata() { curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/$1"; }
  if ! { instance_id=$(metadata instance-id) && ip=$(metadata local-ipv4) && zone=$(metadata placement/availability-zone); }; then
    say "FAILED: the instance metadata service did not answer"
    return 1
  fi
  # What the metadata service says goes into kubeadm's config and every script's environment.
  [[ $instance_id =~ ^i-[0-9a-f]{8,17}$ ]] || { say "FAILED: unexpected instance id \"$instance_id\""; return 1; }
  [[ $ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || { say "FAILED: unexpected private IP \"$ip\""; return 1; }
  [[ " $CLUSTER_ZONES " == *" $zone "* ]] || { say "FAILED: zone \"$zone\" is not one of the cluster's ($CLUSTER_ZONES)"; return 1; }
  name="$NODE_NAME_PREFIX-$instance_id"
  if ! { (umask 077 && sed -e "s/@NODE_NAME@/$name/g" -e "s/@NODE_IP@/$ip/g" -e "s/@NODE_ZONE@/$zone/g" \
    "$root$KUBEADM_CONFIG_TEMPLATE" >"$root$KUBEADM_CONFIG.part") && mv -f "$root$KUBEADM_CONFIG.part" "$root$KUBEADM_CONFIG"; }; then
    say "FAILED: cannot write $KUBEADM_CONFIG"
    return 1
  fi
  # Written last: its presence says the identity is complete.
  if ! { printf "NODE_NAME='%s'\nNODE_IP='%s'\nNODE_ZONE='%s'\n" "$name" "$ip" "$zone" >"$root$NODE_IDENTITY_ENV.part" &&
    mv -f "$root$NODE_IDENTITY_ENV.part" "$root$NODE_IDENTITY_ENV"; }; then
    say "FAILED: cannot write $NODE_IDENTITY_ENV"
    return 1
  fi
  say "this instance is $name ($ip, $zone)"
}
if [[ ! -f ${KUBEADM_HA_ROOT:-}$NODE_IDENTITY_ENV ]]; then node_identity || exit 1; fi
# shellcheck source=/dev/null
. "${KUBEADM_HA_ROOT:-}$NODE_IDENTITY_ENV"
