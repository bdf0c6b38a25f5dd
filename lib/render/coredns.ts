/**
 * Cluster DNS that survives a node: kubeadm deploys CoreDNS with two replicas, which usually both
 * start on the first Ready node (the init node) and stay there, so losing that node takes DNS down
 * until they are rescheduled. After the other nodes have joined, the init node applies
 * (templates/spread-coredns.sh):
 * - a strategic-merge patch of the coredns Deployment with topology spread constraints: never two
 *   replicas on one node (hostname, DoNotSchedule) and across zones where it can (zone,
 *   ScheduleAnyway, so a zone outage never leaves a replacement unschedulable). `matchLabelKeys:
 *   [pod-template-hash]` counts only the pods of the current rollout, so the patch's own rollout
 *   moves the replicas apart; `nodeTaintsPolicy: Honor` leaves out nodes the pods cannot run on.
 *   The patch changes the pod template, so the Deployment rolls out once, onto the joined nodes;
 * - a PodDisruptionBudget, so a drain (upgrade, node replacement) evicts one replica at a time.
 * Zones come from the `topology.kubernetes.io/zone` label each kubelet sets (lib/render/kubeadm.ts).
 * `kubeadm upgrade apply` rewrites the Deployment; docs/bootstrap.md says to re-apply the patch.
 */
import { stringify } from "yaml";
import type { NodeFile } from "../node-file";
import type { Topology } from "../topology";

export const COREDNS_SPREAD_PATCH_PATH = "/etc/kubeadm-ha/coredns-spread.yaml";
export const COREDNS_PDB_PATH = "/etc/kubeadm-ha/coredns-pdb.yaml";
/** kubeadm's names for the CoreDNS Deployment and its pods' label. */
export const COREDNS_DEPLOYMENT = { namespace: "kube-system", name: "coredns" } as const;
const COREDNS_LABELS = { "k8s-app": "kube-dns" } as const;

export function corednsSpreadPatch() {
  const constraint = (topologyKey: string, whenUnsatisfiable: "DoNotSchedule" | "ScheduleAnyway") => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable,
    labelSelector: { matchLabels: { ...COREDNS_LABELS } },
    matchLabelKeys: ["pod-template-hash"],
    nodeTaintsPolicy: "Honor",
  });
  return {
    spec: {
      template: {
        spec: {
          topologySpreadConstraints: [
            constraint("kubernetes.io/hostname", "DoNotSchedule"),
            constraint("topology.kubernetes.io/zone", "ScheduleAnyway"),
          ],
        },
      },
    },
  };
}

export function corednsDisruptionBudget() {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: COREDNS_DEPLOYMENT.name, namespace: COREDNS_DEPLOYMENT.namespace },
    spec: { maxUnavailable: 1, selector: { matchLabels: { ...COREDNS_LABELS } } },
  };
}

/**
 * The nodes the init node waits for before it spreads CoreDNS: every control-plane node and the
 * first two workers (a large fleet's stragglers must not hold the spread back). Two replicas need
 * two nodes; more nodes only add choice.
 */
export function corednsSpreadNodes(topology: Topology): string[] {
  return [...topology.controlPlane, ...topology.workers.slice(0, 2)].map((node) => node.name);
}

/** Files only the init node needs. */
export function renderCorednsFiles(topology: Topology): NodeFile[] {
  const header = (what: string) => `# ${what} of stack ${topology.stack}; rendered by kubeadm-ha (lib/render/coredns.ts).\n`;
  return [
    { path: COREDNS_SPREAD_PATCH_PATH, content: header("CoreDNS spread (strategic-merge patch)") + stringify(corednsSpreadPatch(), { lineWidth: 0 }), permissions: "0644" },
    { path: COREDNS_PDB_PATH, content: header("CoreDNS PodDisruptionBudget") + stringify(corednsDisruptionBudget(), { lineWidth: 0 }), permissions: "0644" },
  ];
}
