#!/usr/bin/env bash
# Admin access from a workstation without any inbound port: fetches the admin kubeconfig that the
# init node stored encrypted for the control-plane audience, points it at a local SSM port
# forward to the API endpoint (the load balancer, never one control-plane node), and opens that
# forward: to the load-balancer instance (haproxy, nginx), or through a control-plane node to the
# NLB's private name (nlb).
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
lb_host="${endpoint%:*}"
lb_port="${endpoint##*:}"
# The API certificate names the endpoint's host; tls-server-name keeps TLS verification strict
# while the connection goes through the local end of the tunnel.
kubectl --kubeconfig "$out" config set-cluster "$cluster" \
  --server "https://127.0.0.1:$local_port" --tls-server-name "$lb_host" >/dev/null

if [[ $lb_host =~ ^[0-9.]+$ ]]; then
  # haproxy or nginx: forward to the load-balancer instance itself.
  filter="Name=private-ip-address,Values=$lb_host"
  document=AWS-StartPortForwardingSession
  parameters="portNumber=$lb_port,localPortNumber=$local_port"
else
  # nlb: the endpoint is a name in the stack's private hosted zone; any running control-plane
  # node resolves it and forwards to the NLB (so the tunnel does not depend on one master).
  filter="Name=tag:Role,Values=control-plane"
  document=AWS-StartPortForwardingSessionToRemoteHost
  parameters="host=$lb_host,portNumber=$lb_port,localPortNumber=$local_port"
fi
if [[ -z $instance_id ]]; then
  instance_id="$(aws --region "$region" ec2 describe-instances \
    --filters "$filter" "Name=tag:Cluster,Values=$stack" "Name=instance-state-name,Values=running" \
    --query 'Reservations[].Instances[0].InstanceId' --output text | awk '{print $1}')"
  [[ $instance_id =~ ^i-[0-9a-f]+$ ]] ||
    die "found no running instance to forward through to $lb_host ('$instance_id'); pass --instance-id"
fi

echo "Wrote $out (server https://127.0.0.1:$local_port = the API endpoint $lb_host:$lb_port, via $instance_id)." >&2
echo "Keep this running and, in another shell: export KUBECONFIG=$out; kubectl get nodes" >&2
exec aws --region "$region" ssm start-session --target "$instance_id" \
  --document-name "$document" --parameters "$parameters"
