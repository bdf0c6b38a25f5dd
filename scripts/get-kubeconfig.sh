#!/usr/bin/env bash
# Admin access from a workstation without any inbound port: fetches the admin kubeconfig that the
# init node stored encrypted for the control-plane audience, points it at a local SSM port
# forward to the load balancer (never at one control-plane node), and opens that forward.
#
# Usage: scripts/get-kubeconfig.sh STACK [--region REGION] [--out FILE] [--local-port PORT] [--instance-id ID]
# Needs: AWS CLI v2 with the session-manager-plugin, kubectl, and kms:Decrypt on
# alias/kubeadm-ha/STACK/control-plane for your AWS identity.
set -euo pipefail

die() {
  echo "get-kubeconfig: $*" >&2
  exit 1
}

[[ $# -ge 1 && $1 != -* ]] || die "usage: get-kubeconfig.sh STACK [--region REGION] [--out FILE] [--local-port PORT] [--instance-id ID]"
stack=$1
shift
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-eu-west-1}}"
out="$HOME/.kube/kubeadm-ha-$stack.conf"
local_port=16443
instance_id=""
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || die "$1 needs a value"
  case $1 in
    --region) region=$2 ;;
    --out) out=$2 ;;
    --local-port) local_port=$2 ;;
    --instance-id) instance_id=$2 ;;
    *) die "unknown option $1" ;;
  esac
  shift 2
done
for tool in aws kubectl session-manager-plugin; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done

# The kubeconfig holds the cluster-admin client key: private from the first byte.
umask 077
mkdir -p "$(dirname "$out")"
aws --region "$region" ssm get-parameter --name "/kubeadm-ha/$stack/control-plane/admin.conf" \
  --with-decryption --query Parameter.Value --output text >"$out.part" ||
  die "cannot read the admin kubeconfig of $stack (is the cluster up, and may you decrypt with alias/kubeadm-ha/$stack/control-plane?)"
mv -f "$out.part" "$out"

cluster="$(kubectl --kubeconfig "$out" config view -o jsonpath='{.clusters[0].name}')"
endpoint="$(kubectl --kubeconfig "$out" config view -o jsonpath='{.clusters[0].cluster.server}')"
endpoint="${endpoint#https://}"
lb_ip="${endpoint%:*}"
lb_port="${endpoint##*:}"
# The API certificate names the load balancer's IP; tls-server-name keeps TLS verification
# strict while the connection goes through the local end of the tunnel.
kubectl --kubeconfig "$out" config set-cluster "$cluster" \
  --server "https://127.0.0.1:$local_port" --tls-server-name "$lb_ip" >/dev/null

if [[ -z $instance_id ]]; then
  instance_id="$(aws --region "$region" ec2 describe-instances \
    --filters "Name=private-ip-address,Values=$lb_ip" "Name=instance-state-name,Values=running" \
    --query 'Reservations[].Instances[].InstanceId' --output text)"
  [[ $instance_id =~ ^i-[0-9a-f]+$ ]] ||
    die "expected one running instance with the load balancer's address $lb_ip, found '$instance_id'; pass --instance-id"
fi

echo "Wrote $out (server https://127.0.0.1:$local_port = the load balancer $lb_ip:$lb_port)." >&2
echo "Keep this running and, in another shell: export KUBECONFIG=$out; kubectl get nodes" >&2
exec aws --region "$region" ssm start-session --target "$instance_id" \
  --document-name AWS-StartPortForwardingSession \
  --parameters "portNumber=$lb_port,localPortNumber=$local_port"
