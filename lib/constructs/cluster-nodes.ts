/**
 * One EC2 instance per topology node, at the node's planned private IP, so every address in the
 * rendered configs (etcd members, API backends, the endpoint) is true before anything boots.
 *
 * Running Kubernetes and etcd nodes are never replaced or restarted by an ordinary apply
 * (lib/day2/role-guards.ts has the per-role settings; control-plane and etcd instances also carry
 * prevent_destroy, lifted for one node at a time by `npm run rotate`):
 * - `ami`, `instance_type` and the root volume are ignored after creation: they apply to new or
 *   replaced nodes only (an instance-type change would stop every node of the role at once).
 * - `user_data` is ignored after creation too, and userDataReplaceOnChange is false. cloud-init
 *   runs user data once per instance, so a changed template cannot reconfigure a running node
 *   anyway; without the ignore, the AWS provider would stop and start every node at once to swap
 *   the text, taking the whole cluster (and etcd quorum) down together. Roll a template change out
 *   with `npm run rotate`, one node at a time (the synthesized JSON still shows the new text, so
 *   the change is reviewed in the PR, and the plan names the out-of-date nodes).
 * - `ebs_optimized` is ignored after creation as well: the AWS provider changes it by stopping the
 *   instance, so a node created before the attribute was set is left alone (its type is
 *   EBS-optimized by default anyway); new and replaced nodes get it.
 * The load balancer is the exception: it holds no state, and its config lists the control-plane
 * nodes, so a changed user data (say, a control-plane node added) replaces it on apply. Otherwise
 * a new API server would join but never receive traffic through the endpoint.
 * The CPU credit specification and detailed monitoring do reach running nodes: EC2 changes both
 * in place, without a stop.
 */
import { Construct } from "constructs";
import type { ITerraformDependable } from "cdktf";
import { DataAwsAmi } from "@cdktf/provider-aws/lib/data-aws-ami";
import { Instance } from "@cdktf/provider-aws/lib/instance";
import type { ClusterNode, NodeRole, Topology } from "../topology";
import { ARM64_INSTANCE_TYPE, ec2UserData, instanceLaunchOptions } from "../ec2";
import { PARTITIONS, partitionOfRegion } from "../partitions";
import { escapeTerraformTemplate } from "../terraform-escape";
import { ROLE_PROFILES } from "../roles";
import { multiLineTextForSynth } from "./hcl-output";
import { ROLE_GUARDS } from "../day2/role-guards";

/** Every node's IMDS hop limit; the Auto Scaling group's launch template uses it too. */
export const METADATA_HOP_LIMIT = 1;

/** Canonical's account in the commercial partition; lib/partitions.ts has the others. */
export const CANONICAL_OWNER_ID = PARTITIONS.aws.canonicalOwnerId;
export const UBUNTU_AMI_NAME_PATTERN = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*";

export interface ClusterNodesProps {
  /** The nodes to create (name, role, instance type, zone index, private IP) and the spec. */
  readonly topology: Topology;
  /** Private subnet ID by zone index (topology.zones order). */
  readonly privateSubnetIds: readonly string[];
  /** Security group ID by role; every role in the topology needs one. */
  readonly securityGroupIds: Readonly<Partial<Record<NodeRole, string>>>;
  /** Instance profile name by role; every role in the topology needs one. */
  readonly instanceProfileNames: Readonly<Partial<Record<NodeRole, string>>>;
  /**
   * The node's user data (cloud-config or script). Lands as readable text in the synthesized
   * JSON, not base64, so reviewers can diff it; only Terraform's template markers are escaped.
   */
  readonly userData: (node: ClusterNode) => string;
  /**
   * Resources that must be in place before any node boots: nodes install packages through the
   * NAT gateway and publish secrets with their IAM policies and KMS aliases on first boot.
   * @default - none
   */
  readonly dependsOn?: readonly ITerraformDependable[];
  /**
   * Nodes whose prevent_destroy guard (ROLE_GUARDS) is lifted in this synth: the one node a
   * rotation replaces, or all of them for a deliberate teardown.
   * @default - every guard in place
   */
  readonly unguarded?: (node: ClusterNode) => boolean;
}

export class ClusterNodes extends Construct {
  /** Instance by node name (topology.nodes order). */
  public readonly instances: Readonly<Record<string, Instance>>;
  /** The Ubuntu lookup; absent when spec.nodes.amiId pins an image. */
  public readonly ami?: DataAwsAmi;

  constructor(scope: Construct, id: string, props: ClusterNodesProps) {
    super(scope, id);
    const { topology } = props;
    const spec = topology.spec;
    const stack = topology.stack;
    const problems: string[] = [];
    if (props.privateSubnetIds.length !== topology.zones.length) {
      problems.push(`privateSubnetIds: ${props.privateSubnetIds.length} given, expected one per zone (${topology.zones.length})`);
    }
    const names = new Set<string>();
    const userData = new Map<string, string>();
    for (const node of topology.nodes) {
      if (names.has(node.name)) problems.push(`node ${node.name}: the name is used twice`);
      names.add(node.name);
      if (node.zoneIndex < 0 || node.zoneIndex >= props.privateSubnetIds.length) {
        problems.push(`node ${node.name}: zone index ${node.zoneIndex} has no private subnet`);
      }
      if (!props.securityGroupIds[node.role]) problems.push(`node ${node.name}: no security group for role ${node.role}`);
      if (!props.instanceProfileNames[node.role]) problems.push(`node ${node.name}: no instance profile for role ${node.role}`);
      if (!spec.nodes.amiId && ARM64_INSTANCE_TYPE.test(node.instanceType)) {
        problems.push(`node ${node.name}: ${node.instanceType} is arm64 but the default image is amd64; pick an x86 type or set nodes.amiId`);
      }
      const text = props.userData(node);
      if (typeof text !== "string") {
        problems.push(`node ${node.name}: userData returned ${typeof text}, expected a string`);
        continue;
      }
      try {
        ec2UserData(node.name, text);
      } catch (error) {
        problems.push(`node ${node.name}: ${(error as Error).message}`);
      }
      userData.set(node.name, text);
    }
    if (problems.length > 0) throw new Error(`${this.node.path}:\n  ${problems.join("\n  ")}`);

    let ami = spec.nodes.amiId;
    if (!ami) {
      // Canonical publishes from a different account in each partition; the lookup must ask that one.
      const partition = partitionOfRegion(spec.region);
      if (!partition) {
        throw new Error(`${this.node.path}: region ${spec.region}: no Ubuntu image owner is known for its partition; set nodes.amiId`);
      }
      // Resolved by Terraform at plan time, never at synth: the JSON stays the same from day to day.
      this.ami = new DataAwsAmi(this, "ubuntu-ami", {
        owners: [partition.canonicalOwnerId],
        mostRecent: true,
        filter: [
          { name: "name", values: [UBUNTU_AMI_NAME_PATTERN] },
          { name: "architecture", values: ["x86_64"] },
          { name: "virtualization-type", values: ["hvm"] },
        ],
      });
      ami = this.ami.id;
    }

    const instances: Record<string, Instance> = {};
    for (const node of topology.nodes) {
      const name = `${stack}-${node.name}`;
      const guard = ROLE_GUARDS[node.role];
      const encoded = ec2UserData(node.name, userData.get(node.name)!);
      const launch = instanceLaunchOptions(node.instanceType, spec.nodes);
      // The construct ID is the node name: it is the Terraform address, so it must never change.
      instances[node.name] = new Instance(this, node.name, {
        ami,
        instanceType: node.instanceType,
        ebsOptimized: launch.ebsOptimized,
        creditSpecification: launch.cpuCredits ? { cpuCredits: launch.cpuCredits } : undefined,
        monitoring: launch.monitoring,
        subnetId: props.privateSubnetIds[node.zoneIndex],
        privateIp: node.privateIp,
        associatePublicIpAddress: false,
        vpcSecurityGroupIds: [props.securityGroupIds[node.role]!],
        iamInstanceProfile: props.instanceProfileNames[node.role]!,
        metadataOptions: {
          httpEndpoint: "enabled",
          // IMDSv2 only: a session token defeats SSRF-style credential theft through IMDSv1.
          httpTokens: "required",
          // 1 hop: pods on the pod network (one hop further) get no token. It does not stop
          // hostNetwork pods (calico-node, kube-proxy, any user pod with hostNetwork), which send
          // from the node itself; templates/guard-imds.sh rejects IMDS traffic from every pod's
          // cgroup on Kubernetes nodes, so no pod borrows the node role (on control-plane nodes it
          // decrypts the cluster CA key).
          httpPutResponseHopLimit: METADATA_HOP_LIMIT,
          instanceMetadataTags: "disabled",
        },
        rootBlockDevice: {
          volumeType: "gp3",
          volumeSize: spec.nodes.rootVolumeGiB,
          encrypted: true,
          deleteOnTermination: true,
          tags: { Name: name, Role: node.role, Cluster: stack },
        },
        // Plain while it fits (reviewers diff it in the JSON), else gzipped whole (lib/ec2.ts); plain
        // text has the same value in `cdktf synth --hcl` output as in the JSON (see hcl-output.ts).
        ...("userData" in encoded ? { userData: multiLineTextForSynth(this, escapeTerraformTemplate(encoded.userData)) } : encoded),
        userDataReplaceOnChange: ROLE_PROFILES[node.role].replaceOnUserDataChange,
        // Both supported CNIs (calico VXLAN, flannel VXLAN) encapsulate pod traffic in packets
        // between node addresses, so every ENI only sends and receives its own IP and the check
        // can stay on. Only unencapsulated routing (BGP, host-gw, CrossSubnet) would need it off.
        sourceDestCheck: true,
        tags: { Name: name, Role: node.role, Cluster: stack },
        lifecycle: {
          // Ignoring user data means both forms: the provider also records user_data (computed)
          // for a node sent user_data_base64 (gzipped whole), and a plan would otherwise update it.
          ignoreChanges: guard.ignoreChanges.flatMap((attribute) => (attribute === "user_data" ? ["user_data", "user_data_base64"] : [attribute])),
          preventDestroy: guard.preventDestroy && !props.unguarded?.(node),
        },
        dependsOn: props.dependsOn ? [...props.dependsOn] : undefined,
      });
    }
    this.instances = instances;
  }
}

