#!/usr/bin/env bash
# Restores one etcd member from a snapshot into a fresh data directory. Run it on every member with
# the SAME snapshot, the SAME --initial-cluster (every member's name=peer URL, from the rendered
# etcd.conf.yml or, stacked, the review bundle's topology.json) and the SAME new --token; each with
# its own --name and --peer-url. docs/operations.md has the whole runbook (stop the API servers and
# etcd on every member first, start etcd on all members, then the API servers).
#
#   restore-etcd.sh --snapshot FILE --name NAME --peer-url URL --initial-cluster N1=URL1,... \
#                   --token TOKEN --data-dir DIR [--etcd-image IMAGE]
#
# etcd 3.5 and 3.6 restore with etcdutl; etcd 3.4 (no etcdutl) with `etcdctl snapshot restore`.
# --etcd-image (stacked etcd, whose tools are only in kubeadm's etcd image, e.g. the `image:` of
# /etc/kubernetes/manifests/etcd.yaml): runs etcdutl from that image with `ctr run`, the snapshot's
# and the data dir's folders mounted at their own paths.
# The snapshot is verified first; an existing data directory is never touched (move it aside).
set -euo pipefail
die() { echo "restore-etcd: $*" >&2; exit 1; }
usage() { sed -n '2,13p' "$0" >&2; exit 2; }
snapshot="" name="" peer_url="" initial_cluster="" token="" data_dir="" image=""
while (($# > 0)); do
  [[ $# -ge 2 ]] || usage
  case $1 in
    --snapshot) snapshot=$2 ;;
    --name) name=$2 ;;
    --peer-url) peer_url=$2 ;;
    --initial-cluster) initial_cluster=$2 ;;
    --token) token=$2 ;;
    --data-dir) data_dir=$2 ;;
    --etcd-image) image=$2 ;;
    *) usage ;;
  esac
  shift 2
done
for option in snapshot name peer_url initial_cluster token data_dir; do
  [[ -n ${!option} ]] || die "--${option//_/-} is required"
done
[[ -f $snapshot ]] || die "--snapshot $snapshot: no such file"
[[ $name =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || die "--name $name: expected the member name, such as etcd-1"
[[ $peer_url =~ ^https://[0-9.]+:[0-9]+$ ]] || die "--peer-url $peer_url: expected https://IP:2380"
[[ ,$initial_cluster, == *",$name=$peer_url,"* ]] || die "--initial-cluster does not contain $name=$peer_url"
[[ ! -e $data_dir ]] || die "--data-dir $data_dir exists; move it aside first (never restore over a member's data)"
snapshot="$(realpath "$snapshot")"
data_dir="$(realpath -m "$data_dir")"
mkdir -p "${data_dir%/*}"
if [[ -n $image ]]; then
  tool=etcdutl
  run() {
    ctr -n k8s.io run --rm --mount "type=bind,src=${snapshot%/*},dst=${snapshot%/*},options=rbind:ro" \
      --mount "type=bind,src=${data_dir%/*},dst=${data_dir%/*},options=rbind:rw" "$image" "kubeadm-ha-restore-$$-$RANDOM" "$@"
  }
else
  if command -v etcdutl >/dev/null; then tool=etcdutl; else tool=etcdctl; export ETCDCTL_API=3; fi
  run() { "$@"; }
fi
status="$(run "$tool" snapshot status "$snapshot" -w fields 2>&1)" || die "$snapshot does not verify: ${status##*$'\n'}"
echo "restore-etcd: $snapshot: revision $(sed -n 's/^"Revision" : //p' <<<"$status"), $(sed -n 's/^"Keys" : //p' <<<"$status") keys"
run "$tool" snapshot restore "$snapshot" --name "$name" --initial-cluster "$initial_cluster" \
  --initial-cluster-token "$token" --initial-advertise-peer-urls "$peer_url" --data-dir "$data_dir" >/dev/null 2>&1 ||
  die "$tool snapshot restore failed"
echo "restore-etcd: restored $name into $data_dir (cluster token $token); start etcd on every member now"
