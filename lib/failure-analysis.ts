/**
 * What a topology survives, stated plainly for the review page. The API stays reachable only while
 * the load balancer runs, at least one API server runs, and etcd keeps quorum.
 */
import type { ClusterNode, NodeRole, Topology } from "./topology";

/** What fails, for tools: one node of a role, more etcd members than quorum allows, or a whole zone. */
export type FailureSubject =
  | { readonly kind: "node"; readonly role: NodeRole; readonly nodes: readonly string[] }
  | { readonly kind: "etcd-members"; readonly count: number; readonly members: readonly string[] }
  | { readonly kind: "zone"; readonly zone: string; readonly nodes: readonly string[] };

export interface FailureCase {
  readonly subject: FailureSubject;
  readonly failure: string;
  readonly survives: boolean;
  readonly why: string;
  /** "node": one node (or the load balancer) fails; "zone": one zone fails; "beyond": more than etcd tolerates, never survived. */
  readonly scope: "node" | "zone" | "beyond";
  /** For zone cases: the zone. */
  readonly zone?: string;
}

/** The three questions a reviewer asks of an HA cluster, answered from the failure cases. */
export interface SurvivalSummary {
  /** Any one node, whatever its role, and the load balancer itself. */
  readonly anySingleNode: boolean;
  /** The zone (or zones) the API endpoint runs in: the load-balancer node's, or all of them for an NLB. */
  readonly loadBalancerZone: boolean;
  readonly anyOneZone: boolean;
}

export function survivalSummary(topology: Topology, cases: readonly FailureCase[] = analyzeFailures(topology)): SurvivalSummary {
  const zones = cases.filter((c) => c.scope === "zone");
  const lbZone = topology.loadBalancer?.availabilityZone;
  const lbZones = lbZone === undefined ? zones : zones.filter((c) => c.zone === lbZone);
  return {
    anySingleNode: cases.filter((c) => c.scope === "node").every((c) => c.survives),
    loadBalancerZone: lbZones.every((c) => c.survives),
    anyOneZone: zones.every((c) => c.survives),
  };
}

export function analyzeFailures(topology: Topology): FailureCase[] {
  const { controlPlane, workers, etcd } = topology;
  const stacked = etcd.topology === "stacked";
  const cases: FailureCase[] = [];
  const nodesOf = (role: NodeRole) => topology.nodes.filter((node) => node.role === role).map((node) => node.name);

  // Cluster DNS: kubeadm's two CoreDNS replicas, spread one per node (preferably across zones)
  // once the nodes have joined, with a PodDisruptionBudget (lib/render/coredns.ts).
  const dns =
    controlPlane.length + workers.length >= 2
      ? "; cluster DNS keeps answering from its other CoreDNS replica (one per node) while the lost one is rescheduled"
      : "";
  const apiServersLeft = controlPlane.length - 1;
  const etcdOkAfterControlPlaneLoss = !stacked || etcd.failuresTolerated >= 1;
  cases.push({
    subject: { kind: "node", role: "control-plane", nodes: nodesOf("control-plane") },
    failure: "one control-plane node",
    survives: apiServersLeft >= 1 && etcdOkAfterControlPlaneLoss,
    why:
      apiServersLeft < 1
        ? "it is the only API server"
        : !etcdOkAfterControlPlaneLoss
          ? `its stacked etcd member is lost and ${etcd.members.length} members tolerate zero failures: etcd loses quorum, the API fails`
          : `${apiServersLeft} API server${apiServersLeft === 1 ? " stays" : "s stay"} behind the load balancer; a standby controller-manager and scheduler take the lease${dns}`,
    scope: "node",
  });
  if (!stacked) {
    cases.push({
      subject: { kind: "node", role: "etcd", nodes: nodesOf("etcd") },
      failure: "one etcd node",
      survives: etcd.failuresTolerated >= 1,
      why: `quorum is ${etcd.quorum} of ${etcd.members.length}; ${etcd.failuresTolerated} failure${etcd.failuresTolerated === 1 ? "" : "s"} tolerated`,
      scope: "node",
    });
  }
  cases.push({
    subject: { kind: "etcd-members", count: etcd.failuresTolerated + 1, members: etcd.members.map((member) => member.name) },
    failure: `${etcd.failuresTolerated + 1} etcd member${etcd.failuresTolerated === 0 ? "" : "s"}`,
    survives: false,
    why: `quorum is ${etcd.quorum} of ${etcd.members.length}: writes stop and the API server fails until members return`,
    scope: "beyond",
  });
  cases.push({
    subject: { kind: "node", role: "load-balancer", nodes: nodesOf("load-balancer") },
    ...topology.loadBalancerKind.failureCase(topology),
    scope: "node",
  });
  // The Auto Scaling group counts at its minimum: the fewest workers the cluster may have.
  const group = topology.workerAutoScaling;
  const fewestWorkers = workers.length + (group?.minSize ?? 0);
  const replaced = group
    ? `; the Auto Scaling group ${group.template.name} replaces a lost instance of its own (EC2 health check), which joins by itself`
    : "";
  cases.push({
    subject: { kind: "node", role: "worker", nodes: group ? [...nodesOf("worker"), `${group.template.name} (instances)`] : nodesOf("worker") },
    failure: "one worker node",
    survives: fewestWorkers >= 2,
    why: fewestWorkers >= 2 ? `its pods are rescheduled onto the remaining workers${dns}${replaced}` : `there is no other worker to reschedule pods onto${replaced}`,
    scope: "node",
  });
  for (const zone of topology.zones) {
    const lost = topology.nodes.filter((node) => node.availabilityZone === zone.name);
    if (lost.length === 0) continue;
    cases.push(zoneCase(topology, zone.name, lost));
  }
  return cases;
}

/** What the nodes of the other zones keep when a zone with a NAT gateway fails (lib/constructs/network.ts). */
export interface EgressOnZoneLoss {
  readonly natGateways: "single" | "perZone";
  /** Zones holding a NAT gateway. */
  readonly natZones: readonly string[];
  readonly vpcEndpoints: boolean;
  /** Session Manager, Parameter Store, KMS, STS and S3 stay reachable from the other zones when any one zone fails. */
  readonly awsApisSurviveAnyZone: boolean;
  /** apt, snap, images and downloads (new nodes' bootstrap) stay reachable from the other zones. */
  readonly internetSurvivesAnyZone: boolean;
}

export function egressOnZoneLoss(topology: Topology): EgressOnZoneLoss {
  const { natGateways, vpcEndpoints } = topology.spec.network;
  const perZone = natGateways === "perZone";
  return {
    natGateways,
    natZones: (perZone ? topology.zones : topology.zones.slice(0, 1)).map((zone) => zone.name),
    vpcEndpoints,
    awsApisSurviveAnyZone: perZone || vpcEndpoints,
    internetSurvivesAnyZone: perZone,
  };
}

/** The egress the other zones lose with this zone, or undefined when they lose none. */
function egressLostWithZone(topology: Topology, zone: string): string | undefined {
  const egress = egressOnZoneLoss(topology);
  if (egress.natGateways === "perZone" || egress.natZones[0] !== zone) return undefined;
  return egress.vpcEndpoints
    ? "the only NAT gateway goes with it: the other zones keep Session Manager, Parameter Store, KMS and S3 through the VPC endpoints, but a node booting there cannot install packages until the zone returns"
    : "the only NAT gateway goes with it: the other zones' nodes lose Session Manager, Parameter Store, KMS and S3 (etcd backups), and a node booting there cannot install packages, until the zone returns (the API keeps serving)";
}

function zoneCase(topology: Topology, zone: string, lost: readonly ClusterNode[]): FailureCase {
  const lostNames = new Set(lost.map((node) => node.name));
  const etcdLost = topology.etcd.members.filter((member) => lostNames.has(member.name)).length;
  const apiLeft = topology.controlPlane.filter((node) => !lostNames.has(node.name)).length;
  const reasons: string[] = [];
  const loadBalancerLost = topology.loadBalancerKind.lostWithZone(topology, zone);
  if (loadBalancerLost) reasons.push(loadBalancerLost);
  if (apiLeft === 0) reasons.push("no API server is left");
  if (etcdLost > topology.etcd.failuresTolerated) reasons.push(`etcd loses ${etcdLost} of ${topology.etcd.members.length} members (quorum lost)`);
  const kubernetesLeft = [...topology.controlPlane, ...topology.workers].filter((node) => !lostNames.has(node.name)).length;
  if (kubernetesLeft === 0) reasons.push("no Kubernetes node is left for cluster DNS");
  const group = topology.workerAutoScaling;
  // The group spans every zone: it loses the zone's instances and launches them in the others.
  const lostNamed = [...lost.map((node) => node.name), ...(group ? [`its ${group.template.name} instances`] : [])];
  const relaunched = group ? `; the Auto Scaling group launches the zone's workers in the other zones` : "";
  const egress = egressLostWithZone(topology, zone);
  return {
    subject: { kind: "zone", zone, nodes: lost.map((node) => node.name) },
    failure: `availability zone ${zone} (${lostNamed.join(", ")})`,
    // Egress is not what keeps the API up (running nodes need none), so it adds to why, not to survives.
    survives: reasons.length === 0,
    why:
      (reasons.length === 0
        ? `enough API servers, etcd members and the load balancer remain in other zones; CoreDNS's replicas prefer different zones (one lost with the zone is rescheduled)${relaunched}`
        : reasons.join("; ")) + (egress ? `; ${egress}` : ""),
    scope: "zone",
    zone,
  };
}
