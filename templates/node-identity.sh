#!/usr/bin/env bash
# An Auto Scaling group's worker has no name, address or zone planned at synth: common.sh runs this
# once per instance (before anything else) when cluster.env says NODE_IDENTITY=imds. It asks the
# instance metadata service, IMDSv2 as the launch template requires (a session token by PUT first),
# for the instance id, private IP and zone, writes NODE_NAME, NODE_IP and NODE_ZONE to
# NODE_IDENTITY_ENV (which common.sh then sources), and writes KUBEADM_CONFIG from its template
# with them. The node name is NODE_NAME_PREFIX-<instance id>: EC2 never reuses an instance id,
# while a private IP (and the ip-... hostname made from it) comes back with a later instance.
set -euo pipefail
ROOT="${KUBEADM_HA_ROOT:-}"
# shellcheck source=/dev/null
. "$ROOT/etc/kubeadm-ha/cluster.env"
POLL_SECONDS="${KUBEADM_HA_POLL_SECONDS:-10}"
LOG_FILE="$ROOT/var/log/kubeadm-ha-bootstrap.log"
IMDS=http://169.254.169.254/latest
mkdir -p "${LOG_FILE%/*}"
say() { printf '%s %s node-identity: %s\n' "$(date -u +%FT%TZ)" "$NODE_NAME_PREFIX-?" "$*" | tee -a "$LOG_FILE" >&2; }

# A token valid for 5 minutes: enough for the three reads below. The metadata service may answer
# late right after launch, so a few attempts.
token=""
for attempt in 1 2 3 4 5; do
  token=$(curl -fsS --max-time 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" "$IMDS/api/token") && break
  say "attempt $attempt of 5 to get an IMDSv2 token failed"
  sleep "$POLL_SECONDS"
done
[[ -n $token ]] || { say "FAILED: no IMDSv2 token from $IMDS/api/token"; exit 1; }
metadata() { curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$IMDS/meta-data/$1"; }
instance_id=$(metadata instance-id)
ip=$(metadata local-ipv4)
zone=$(metadata placement/availability-zone)
# What the metadata service says goes into kubeadm's config and the scripts' environment: check its form.
[[ $instance_id =~ ^i-[0-9a-f]{8,17}$ ]] || { say "FAILED: unexpected instance id \"$instance_id\""; exit 1; }
[[ $ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || { say "FAILED: unexpected private IP \"$ip\""; exit 1; }
[[ " $CLUSTER_ZONES " == *" $zone "* ]] || { say "FAILED: zone \"$zone\" is not one of the cluster's ($CLUSTER_ZONES)"; exit 1; }
name="$NODE_NAME_PREFIX-$instance_id"

config="$ROOT$KUBEADM_CONFIG"
(umask 077 && sed -e "s/@NODE_NAME@/$name/g" -e "s/@NODE_IP@/$ip/g" -e "s/@NODE_ZONE@/$zone/g" "$ROOT$KUBEADM_CONFIG_TEMPLATE" >"$config.part")
mv -f "$config.part" "$config"
# Written last: its presence says the identity is complete.
identity="$ROOT$NODE_IDENTITY_ENV"
printf "NODE_NAME='%s'\nNODE_IP='%s'\nNODE_ZONE='%s'\n" "$name" "$ip" "$zone" >"$identity.part"
mv -f "$identity.part" "$identity"
say "this instance is $name ($ip, $zone)"
