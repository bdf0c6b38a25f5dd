/**
 * The review bundle (cdktf.out/review/<stack>/): what a pull-request reviewer or a tool reads
 * instead of the Terraform JSON. Pure: returns relative path -> text.
 */
import * as path from "path";
import { API_SERVER_PORT, Topology, workerAutoScalingSummary } from "./topology";
import { analyzeFailures, egressOnZoneLoss, survivalSummary } from "./failure-analysis";
import { LOAD_BALANCERS } from "./load-balancers/registry";
import { HA_REPORT_FILE, renderHaReport } from "./ha-report";
import { renderPlacementDiagram, renderTrafficDiagram } from "./diagram";
import type { SecurityRule } from "./security-rules";
import { INTERFACE_ENDPOINT_SERVICES } from "./vpc-endpoints";
import { flowLogGroupName, flowLogRetentionDays } from "./flow-logs";
import type { RenderedNode } from "./render/cluster";

export const USER_DATA_FILE = "user-data.yaml";

export function topologySummary(topology: Topology) {
  const { spec } = topology;
  return {
    stack: topology.stack,
    kubernetesVersion: spec.kubernetesVersion,
    etcdTopology: topology.etcd.topology,
    controlPlaneEndpoint: topology.controlPlaneEndpoint,
    loadBalancer: {
      kind: spec.loadBalancer.kind,
      address: topology.controlPlaneEndpointHost,
      port: API_SERVER_PORT,
      backends: [...topology.apiServerBackends],
      /** Seconds from an API server's failure to its leaving rotation, at worst; null: some failures are never detected. */
      failoverWorstCaseSeconds: topology.loadBalancerKind.failover.worstCaseSeconds ?? null,
    },
    survives: survivalSummary(topology),
    nodes: topology.nodes.map((node) => ({
      name: node.name,
      role: node.role,
      privateIp: node.privateIp,
      availabilityZone: node.availabilityZone,
      instanceType: node.instanceType,
    })),
    // Only with workers.autoScaling: its instances are not in `nodes` (their addresses are dynamic).
    ...(topology.workerAutoScaling ? { workerAutoScaling: workerAutoScalingSummary(topology) } : {}),
    etcd: {
      endpoints: [...topology.etcd.endpoints],
      members: topology.etcd.members.length,
      quorum: topology.etcd.quorum,
      failuresTolerated: topology.etcd.failuresTolerated,
    },
    leaderElection: {
      leaseDuration: spec.leaderElection.leaseDuration,
      renewDeadline: spec.leaderElection.renewDeadline,
      retryPeriod: spec.leaderElection.retryPeriod,
      worstCaseTakeoverSeconds: topology.leaderElection.worstCaseTakeoverSeconds,
    },
    warnings: [...topology.warnings],
  };
}

/**
 * @param securityRules the stack's security-group rules as synthesized (lib/security-rules.ts);
 * REVIEW.md draws the traffic between groups from them.
 */
export function renderReviewBundle(
  topology: Topology,
  rendered: ReadonlyMap<string, RenderedNode>,
  securityRules: readonly SecurityRule[] = [],
): Map<string, string> {
  const bundle = new Map<string, string>();
  bundle.set("topology.json", `${JSON.stringify(topologySummary(topology), null, 2)}\n`);
  bundle.set(HA_REPORT_FILE, renderHaReport(topology));
  const template = topology.workerAutoScaling?.template;
  for (const node of template ? [...topology.nodes, template] : topology.nodes) {
    const output = rendered.get(node.name);
    if (!output) throw new Error(`no rendered files for node ${node.name}`);
    for (const file of output.files) {
      const target = `files/${node.name}/${path.posix.basename(file.path)}`;
      if (bundle.has(target) || path.posix.basename(file.path) === USER_DATA_FILE) {
        throw new Error(`${node.name}: two files would share the review name ${target}`);
      }
      bundle.set(target, file.content);
    }
    bundle.set(`files/${node.name}/${USER_DATA_FILE}`, output.userData);
  }
  bundle.set("REVIEW.md", renderReviewPage(topology, rendered, securityRules));
  return bundle;
}

function renderReviewPage(topology: Topology, rendered: ReadonlyMap<string, RenderedNode>, securityRules: readonly SecurityRule[]): string {
  const { spec } = topology;
  const election = topology.leaderElection;
  const failures = analyzeFailures(topology);
  const survival = survivalSummary(topology, failures);
  const yesNo = (value: boolean) => (value ? "yes" : "**no**");
  const lines = [
    `# ${topology.stack}`,
    "",
    `Kubernetes ${spec.kubernetesVersion}, ${topology.controlPlane.length} control-plane node(s), ${workersText(topology)}, ` +
      `${topology.etcd.topology} etcd (${topology.etcd.members.length} member(s)), ${spec.loadBalancer.kind} load balancer, ${spec.cni.plugin} CNI, region ${spec.region}.`,
    "",
    `API endpoint (kubeadm controlPlaneEndpoint and every kubeconfig): \`${topology.controlPlaneEndpoint}\``,
    "",
    "## Nodes",
    "",
    "| node | role | private IP | zone | instance type | files |",
    "| --- | --- | --- | --- | --- | --- |",
    ...topology.nodes.map((node) => {
      const files = (rendered.get(node.name)?.files ?? []).map((file) => path.posix.basename(file.path)).join(", ");
      return `| ${node.name} | ${node.role} | ${node.privateIp} | ${node.availabilityZone} | ${node.instanceType} | ${files} |`;
    }),
    ...autoScalingLines(topology, rendered),
    "",
    "## Diagram",
    "",
    "Where the nodes run (zones, roles, the load balancer's backends, etcd members):",
    "",
    "```mermaid",
    renderPlacementDiagram(topology),
    "```",
    "",
    ...(securityRules.length > 0
      ? [
          "Traffic the security groups allow (arrow: who may open a connection to whom; from the stack's rules):",
          "",
          "```mermaid",
          renderTrafficDiagram(securityRules),
          "```",
          "",
        ]
      : []),
    "## What this cluster survives",
    "",
    "| failure | survives | why |",
    "| --- | --- | --- |",
    ...failures.map((c) => `| ${c.failure} | ${c.survives ? "yes" : "**no**"} | ${c.why} |`),
    "",
    `Survives the loss of any single node: ${yesNo(survival.anySingleNode)}; of the load balancer's zone: ${yesNo(survival.loadBalancerZone)}; ` +
      `of any one zone: ${yesNo(survival.anyOneZone)}.`,
    "",
    ...failoverLines(topology),
    "",
    `etcd: quorum ${topology.etcd.quorum} of ${topology.etcd.members.length}, tolerates ${topology.etcd.failuresTolerated} failure(s). ` +
      `Endpoints: ${topology.etcd.endpoints.join(", ")}.`,
    "",
    egressLine(topology),
    "",
    `Leader election (kube-controller-manager, kube-scheduler): lease ${spec.leaderElection.leaseDuration}, renew deadline ` +
      `${spec.leaderElection.renewDeadline}, retry ${spec.leaderElection.retryPeriod}; a standby takes over at worst ` +
      `${election.worstCaseTakeoverSeconds} s after the leader dies (${election.formula}).`,
    "",
    "## Warnings",
    "",
    ...(topology.warnings.length > 0 ? topology.warnings.map((warning) => `- ${warning}`) : ["None."]),
    "",
  ];
  return lines.join("\n");
}

/** NAT gateways, VPC endpoints and flow logs, and what one zone's loss leaves the other zones. */
function egressLine(topology: Topology): string {
  const egress = egressOnZoneLoss(topology);
  const { flowLogs } = topology.spec.network;
  const nat = egress.natGateways === "perZone" ? `a NAT gateway per zone (${egress.natZones.join(", ")})` : `one NAT gateway, in ${egress.natZones[0]}`;
  const endpoints = egress.vpcEndpoints
    ? `VPC endpoints in every zone for ${INTERFACE_ENDPOINT_SERVICES.join(", ")}, and an S3 gateway endpoint`
    : "no VPC endpoints";
  const logs = !flowLogs
    ? "flow logs off"
    : flowLogs.destination === "s3"
      ? `flow logs (${flowLogs.trafficType}) to s3://${flowLogs.s3Bucket}${flowLogs.s3KeyPrefix ? `/${flowLogs.s3KeyPrefix}` : ""}`
      : `flow logs (${flowLogs.trafficType}) to CloudWatch Logs ${flowLogGroupName(topology.stack)}, ${flowLogRetentionDays(flowLogs)} days`;
  const yesNo = (value: boolean) => (value ? "yes" : "**no**");
  return (
    `Egress: ${nat}; ${endpoints}; ${logs}. When one zone fails, the other zones keep the AWS APIs (Session Manager, Parameter Store, KMS, STS, S3): ` +
    `${yesNo(egress.awsApisSurviveAnyZone)}; the internet (packages for booting nodes): ${yesNo(egress.internetSurvivesAnyZone)}.`
  );
}

/** The kind's failover figure, and HAProxy's beside it when the cluster uses another kind. */
function failoverLines(topology: Topology): string[] {
  const describe = (module: Topology["loadBalancerKind"]) => {
    const seconds = module.failover.worstCaseSeconds;
    return seconds === undefined
      ? `${module.displayName} does not take every dead API server out of rotation (${module.failover.explanation})`
      : `${module.displayName} takes a dead API server out of rotation within ${seconds} s at worst (${module.failover.explanation})`;
  };
  const lines = [`API failover: ${describe(topology.loadBalancerKind)}.`];
  if (topology.loadBalancerKind.kind !== "haproxy") lines.push("", `For comparison, ${describe(LOAD_BALANCERS.haproxy)}.`);
  return lines;
}

function workersText(topology: Topology): string {
  const group = topology.workerAutoScaling;
  const statics = `${topology.workers.length} worker(s)`;
  if (!group) return statics;
  const range = `${group.minSize}-${group.maxSize} workers in an Auto Scaling group`;
  return topology.workers.length > 0 ? `${statics} and ${range}` : range;
}

/** The Auto Scaling group's row in the nodes table and what is dynamic about its instances. */
function autoScalingLines(topology: Topology, rendered: ReadonlyMap<string, RenderedNode>): string[] {
  const group = topology.workerAutoScaling;
  if (!group) return [];
  const { template } = group;
  const files = (rendered.get(template.name)?.files ?? []).map((file) => path.posix.basename(file.path)).join(", ");
  const zones = topology.zones.map((zone) => zone.name).join(", ");
  const purchase = group.spot
    ? `Spot (price-capacity-optimized; ${group.spot.onDemandBaseCapacity} On-Demand base, ${group.spot.onDemandPercentageAboveBaseCapacity}% On-Demand above it)`
    : "On-Demand";
  return [
    `| ${template.name} (Auto Scaling group: ${group.minSize}-${group.maxSize}, ${group.desiredCapacity} at creation) | worker | dynamic | ${zones} | ${group.instanceTypes.join(", ")} | ${files} |`,
    "",
    `**Addresses of ${template.name} are dynamic.** EC2 gives each instance its private IP and zone at launch (the group spans ` +
      `the private subnet of every zone; each private subnet reserves its low hosts for the static nodes, so the group never takes one of their addresses). ` +
      "No config in this bundle names them: each instance reads its instance id, IP and zone from IMDSv2 at boot " +
      "(`node-identity.sh`), registers as `worker-<instance id>` and joins with the join material the control-plane nodes keep published. " +
      `Purchase: ${purchase}. A scaled-in or lost instance leaves a NotReady Node until it is deleted (\`kubectl delete node\`, docs/operations-changes.md); ` +
      "a new launch template version reaches instances launched afterwards only.",
  ];
}
