#!/usr/bin/env bash
# etcd backup, run by kubeadm-ha-etcd-backup.timer on every etcd member (the control-plane nodes
# with stacked etcd, the etcd nodes with external etcd). Only the member that is the raft leader
# takes a snapshot, so the cluster uploads one snapshot per period; the others skip. The snapshot
# is verified before it is uploaded to s3://<stack>-etcd-<account>-<region>/etcd/YYYY/MM/DD/ (the
# bucket's default SSE-KMS key encrypts it; this role may put objects, never delete them). Every
# member then checks that the newest snapshot in the bucket is younger than BACKUP_MAX_AGE_SECONDS
# and fails loudly otherwise, so a broken backup shows on every member's timer, not only the leader's.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=etcd-backup
ensure_aws_cli
# ETCD_TOOLS=container: stacked etcd, whose etcdctl and etcdutl are in kubeadm's etcd image (the same
# release as the server); the snapshot is written under the data dir, the container's only writable
# host path. host: the release binaries etcd-node.sh installed.
if [[ $ETCD_TOOLS == container ]]; then
  cid="$(crictl ps --name '^etcd$' --state running -q | head -n1)"
  [[ -n $cid ]] || die "no running etcd container"
fi
tool() { if [[ -n ${cid:-} ]]; then crictl exec "$cid" "$@"; else "$@"; fi; }
ctl() { tool etcdctl --endpoints="$ETCD_BACKUP_ENDPOINT" "--cacert=$ROOT$ETCD_BACKUP_CA" "--cert=$ROOT$ETCD_BACKUP_CERT" "--key=$ROOT$ETCD_BACKUP_KEY" "$@"; }
field() { sed -n "s/^\"$1\" : //p" <<<"$2" | head -n1; }
prom="$STATE_DIR/etcd-backup.prom"
metric() { printf 'kubeadm_ha_etcd_backup_%s %s\n' "$@" >>"$prom.part"; }
: >"$prom.part"
s3() { retry 4 aws --region "$AWS_REGION" s3api "$@"; }

account="$(retry 4 aws sts get-caller-identity --query Account --output text)" || die "no AWS account id"
bucket="$STACK-etcd-$account-$AWS_REGION"
status="$(ctl endpoint status -w fields)" || die "etcdctl endpoint status failed"
member="$(field MemberID "$status")"
leader="$(field Leader "$status")"
[[ -n $member ]] || die "no member id from etcdctl endpoint status"
if [[ $member == "$leader" ]]; then
  now="$(date -u +%s)"
  key="$BACKUP_PREFIX/$(date -u -d "@$now" +%Y/%m/%d/%Y%m%dT%H%M%SZ)-$NODE_NAME.db"
  snap="$ROOT$ETCD_BACKUP_DIR/kubeadm-ha-snapshot.db"
  mkdir -p "${snap%/*}"
  trap 'rm -f "$snap" "$snap.part"' EXIT
  if ! ctl snapshot save "$snap" >>"$LOG_FILE" 2>&1; then
    metric failure_timestamp_seconds "$now"
    mv -f "$prom.part" "$prom"
    die "etcdctl snapshot save failed; nothing uploaded"
  fi
  # etcdutl from 3.5 (etcdctl's snapshot status is gone in 3.6); etcd 3.4 has only etcdctl's.
  util=etcdutl
  [[ -n ${cid:-} ]] || command -v etcdutl >/dev/null || util=etcdctl
  verified="$(tool "$util" snapshot status "$snap" -w fields 2>>"$LOG_FILE")" || die "snapshot does not verify; nothing uploaded"
  rev="$(field Revision "$verified")"
  ((${rev:-0} > 0)) || die "snapshot has no revision; nothing uploaded"
  s3 put-object --bucket "$bucket" --key "$key" --body "$snap" --checksum-algorithm SHA256 \
    --metadata "member=$NODE_NAME,revision=$rev" >/dev/null || die "upload to s3://$bucket/$key failed"
  metric last_success_timestamp_seconds "$now"
  log "uploaded s3://$bucket/$key (revision $rev)"
else
  log "not the etcd leader: no snapshot"
fi

# Freshness: the newest object of today and yesterday (UTC).
newest=0
for day in today yesterday; do
  for t in $(s3 list-objects-v2 --bucket "$bucket" --prefix "$BACKUP_PREFIX/$(date -u -d "$day" +%Y/%m/%d)/" \
    --query 'Contents[].LastModified' --output text); do
    [[ $t != None ]] || continue
    t="$(date -u -d "$t" +%s)"
    if ((t > newest)); then newest=$t; fi
  done
done
age=$(($(date -u +%s) - newest))
metric newest_snapshot_timestamp_seconds "$newest"
mv -f "$prom.part" "$prom"
((age <= BACKUP_MAX_AGE_SECONDS)) || die "WARNING: no etcd snapshot in s3://$bucket newer than ${BACKUP_MAX_AGE_SECONDS}s"
log "newest etcd snapshot: ${age}s old"
