/**
 * The whole cluster: network, security groups, node identities and the nodes themselves, wired
 * together. No provider and no backend: the stack owns those, so this construct can be placed in
 * any stack (or several, one per region/account).
 */
import { Construct } from "constructs";
import type { ClusterNode, NodeRole, Topology } from "../topology";
import { ClusterNetwork } from "./network";
import { ClusterSecurityGroups } from "./security-groups";
import type { CniPort } from "../cni-ports";
import { NODE_ROLE_PATH, NodeIdentity, roleName } from "./node-iam";
import { ClusterNodes } from "./cluster-nodes";
import { Day2Guards } from "./day2-guards";
import type { GuardLift } from "../day2/guard-lift";
import { nodeConfigDigest } from "../day2/node-digest";
import { ApiNetworkLoadBalancer, ApiNetworkLoadBalancerProps, ManagedApiLoadBalancer } from "./api-network-load-balancer";
import type { ManagedLoadBalancerKindName } from "../load-balancers/registry";
import { EtcdBackupBucket } from "./backup-bucket";
import { WorkerAutoScalingGroup } from "./worker-auto-scaling";
import { VpcFlowLogs } from "./flow-logs";
import { TerraformData } from "./terraform-data";
import type { DataResource } from "cdktf";

/**
 * The construct of each load-balancer kind AWS runs. Keyed by the registry's managed kinds, so a
 * new managed kind without its construct fails type checking; node kinds need none (their node is
 * an ordinary cluster node).
 */
const MANAGED_LOAD_BALANCERS: {
  readonly [K in ManagedLoadBalancerKindName]: (scope: Construct, id: string, props: ApiNetworkLoadBalancerProps) => ManagedApiLoadBalancer;
} = {
  nlb: (scope, id, props) => new ApiNetworkLoadBalancer(scope, id, props),
};

export type { CniPort } from "../cni-ports";

export interface KubeadmHaClusterProps {
  readonly topology: Topology;
  /** Each node's user data, rendered by the caller; see ClusterNodesProps.userData. */
  readonly userData: (node: ClusterNode) => string;
  /**
   * Ports the CNI needs between Kubernetes nodes; see ClusterSecurityGroupsProps.cniPorts.
   * @default topology.cniPorts
   */
  readonly cniPorts?: readonly CniPort[];
  /**
   * Each node's configuration digest (lib/day2/node-digest.ts), recorded for `npm run outdated`.
   * @default - the digest of userData(node)
   */
  readonly nodeDigests?: ReadonlyMap<string, string>;
  /** @default - every guard in place */
  readonly guardLift?: GuardLift;
  /**
   * Tags for what an Auto Scaling group launches (the provider's default_tags do not reach it).
   * @default - spec.tags and Cluster
   */
  readonly launchedResourceTags?: Readonly<Record<string, string>>;
}

export class KubeadmHaCluster extends Construct {
  public readonly network: ClusterNetwork;
  public readonly securityGroups: ClusterSecurityGroups;
  public readonly identity: NodeIdentity;
  public readonly nodes: ClusterNodes;
  /**
   * What every node's first boot needs in place (egress, security-group rules, IAM policies, KMS
   * aliases, the API load balancer): one terraform_data depending on all of them, which each node
   * and the Auto Scaling group depend on.
   */
  public readonly bootPrerequisites: DataResource;
  public readonly day2: Day2Guards;
  /** The API load balancer when AWS runs it (loadBalancer.kind nlb); otherwise it is a node in `nodes`. */
  public readonly apiLoadBalancer?: ManagedApiLoadBalancer;
  /** With workers.autoScaling: the launch template and the group. */
  public readonly workerAutoScaling?: WorkerAutoScalingGroup;
  /** With spec.backups.enabled (the default). */
  public readonly backups?: EtcdBackupBucket;
  /** With spec.network.flowLogs. */
  public readonly flowLogs?: VpcFlowLogs;

  constructor(scope: Construct, id: string, props: KubeadmHaClusterProps) {
    super(scope, id);
    const { topology } = props;
    // These IDs are part of every Terraform address below them: renaming one replaces the cluster.
    this.network = new ClusterNetwork(this, "network", { topology });
    this.securityGroups = new ClusterSecurityGroups(this, "security-groups", {
      topology,
      vpcId: this.network.vpc.id,
      cniPorts: props.cniPorts,
    });
    const lift = props.guardLift;
    this.identity = new NodeIdentity(this, "identity", { topology, allowDestroy: lift?.allowDestroy });
    const kind = topology.loadBalancerKind;
    if (!kind.runsOnNode) {
      this.apiLoadBalancer = MANAGED_LOAD_BALANCERS[kind.kind as ManagedLoadBalancerKindName](this, "api-load-balancer", {
        topology,
        vpcId: this.network.vpc.id,
        privateSubnetIds: this.network.privateSubnets.map((subnet) => subnet.id),
        publicSubnetIds: this.network.publicSubnets.map((subnet) => subnet.id),
        securityGroupId: this.securityGroups.loadBalancer.id,
        controlPlaneSecurityGroupId: this.securityGroups.controlPlane.id,
        privateSubnetDependencies: this.network.staticHostReservations.flat(),
      });
    }
    if (topology.spec.backups.enabled) this.backups = etcdBackups(this, topology, this.identity);
    if (topology.spec.network.flowLogs) {
      this.flowLogs = new VpcFlowLogs(this, "flow-logs", {
        topology,
        vpcId: this.network.vpc.id,
        accountId: this.identity.callerIdentity.accountId,
        partition: this.identity.partition.partition,
        dnsSuffix: this.identity.partition.dnsSuffix,
      });
    }

    const roles = [...new Set([...topology.nodes.map((node) => node.role), ...(topology.workerAutoScaling ? ["worker" as const] : [])])];
    const securityGroupIds: Partial<Record<NodeRole, string>> = {};
    const instanceProfileNames: Partial<Record<NodeRole, string>> = {};
    for (const role of roles) {
      securityGroupIds[role] = this.securityGroups.group(role).id;
      instanceProfileNames[role] = this.identity.instanceProfile(role).name;
    }
    // A node's first boot installs packages through the NAT gateway, joins through the load
    // balancer and publishes or fetches secrets: egress, SG rules, IAM policies and KMS aliases
    // must all exist by then, not merely the resources the instance references. The list is stated
    // once, on a barrier: Terraform orders every node after all of it as it would with the list on
    // each node, and a 100-node cluster's JSON (and its synth) does not carry 35 entries 100 times.
    this.bootPrerequisites = new TerraformData(this, "boot-prerequisites", {
      dependsOn: [
        ...this.network.egressDependencies,
        ...this.securityGroups.ingressRules,
        ...this.securityGroups.egressRules,
        ...this.identity.rolePolicies,
        ...Object.values(this.identity.kmsAliases),
        ...(this.apiLoadBalancer?.bootDependencies ?? []),
      ],
    });
    const bootDependencies = [this.bootPrerequisites];
    this.nodes = new ClusterNodes(this, "nodes", {
      topology,
      privateSubnetIds: this.network.privateSubnets.map((subnet) => subnet.id),
      securityGroupIds,
      instanceProfileNames,
      userData: props.userData,
      unguarded: (node) => lift?.allowDestroy === true || lift?.replaceNode === node.name,
      dependsOn: bootDependencies,
    });
    if (topology.workerAutoScaling) {
      this.workerAutoScaling = new WorkerAutoScalingGroup(this, "worker-auto-scaling", {
        topology,
        privateSubnetIds: this.network.privateSubnets.map((subnet) => subnet.id),
        securityGroupId: securityGroupIds.worker!,
        instanceProfileName: instanceProfileNames.worker!,
        imageId: this.nodes.ami?.id ?? topology.spec.nodes.amiId!,
        userData: props.userData(topology.workerAutoScaling.template),
        tags: props.launchedResourceTags ?? { ...topology.spec.tags, Cluster: topology.stack },
        staticHostReservations: this.network.staticHostReservations.flat(),
        // Instances join through the API: the init node must have published the join material,
        // which needs no Terraform ordering (they wait for it), but the same boot prerequisites.
        dependsOn: bootDependencies,
      });
    }
    this.apiLoadBalancer?.registerControlPlane(
      Object.fromEntries(topology.controlPlane.map((node) => [node.name, this.nodes.instances[node.name].id])),
    );
    this.day2 = new Day2Guards(this, "day2", {
      topology,
      instances: this.nodes.instances,
      digests: props.nodeDigests ?? new Map(topology.nodes.map((node) => [node.name, nodeConfigDigest(topology, node, props.userData(node))])),
      lift,
    });
  }
}

function etcdBackups(scope: Construct, topology: Topology, identity: NodeIdentity): EtcdBackupBucket {
  const role = topology.etcd.topology === "external" ? "etcd" : "control-plane";
  const holder = identity.roles[role];
  if (!holder) throw new Error(`${scope.node.path}: no IAM role for the etcd members`);
  return new EtcdBackupBucket(scope, "etcd-backups", {
    topology,
    holderRole: holder,
    holderRoleName: roleName(topology.stack, topology.spec.region, role),
    accountId: identity.callerIdentity.accountId,
    partition: identity.partition.partition,
    dnsSuffix: identity.partition.dnsSuffix,
    nodeRolePath: NODE_ROLE_PATH,
  });
}
