#!/usr/bin/env bash
# The init node, after the other nodes joined: spreads CoreDNS's replicas across nodes and zones and
# gives them a PodDisruptionBudget (lib/render/coredns.ts says why and how). Until then both replicas
# sit on the init node, the only node there was. Waits (bounded) for the nodes in
# COREDNS_SPREAD_NODES to be Ready; nodes still missing then do not hold the spread back. Done once
# (coredns-spread); a replacement of the init node, which joined an existing cluster, skips it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=spread-coredns
export KUBECONFIG="$ROOT/etc/kubernetes/admin.conf"
marker="$STATE_DIR/coredns-spread"
if [[ -f $marker || ! -f $STATE_DIR/kubeadm-init-done ]]; then
  log "nothing to do (CoreDNS spread already, or this node did not initialise the cluster)"
  exit 0
fi

ready() { [[ $(kubectl get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]; }
nodes_ready() {
  missing=""
  for node in $COREDNS_SPREAD_NODES; do ready "$node" || missing+=" $node"; done
  [[ -z $missing ]] || { note "nodes not Ready yet:$missing"; return 1; }
}
poll_until "$WAIT_SECONDS" "nodes to spread CoreDNS over ($COREDNS_SPREAD_NODES)" nodes_ready ||
  log "still not Ready after ${WAIT_SECONDS}s:$missing; spreading CoreDNS over the nodes there are"

retry 5 kubectl apply --server-side --force-conflicts -f "$ROOT$COREDNS_PDB" >/dev/null
retry 5 kubectl -n kube-system patch deployment coredns --type strategic --patch-file "$ROOT$COREDNS_SPREAD_PATCH" >/dev/null
touch "$marker"
log "CoreDNS spread across nodes and zones, with a PodDisruptionBudget"
