/**
 * Workers in an EC2 Auto Scaling group (workers.autoScaling): a launch template with what every
 * static worker gets (IMDSv2 required with hop limit 1, an encrypted gp3 root volume of
 * nodes.rootVolumeGiB, the worker user data, instance profile and security group, the cluster's
 * tags on the instance and its volume) and a group over the private subnet of every zone.
 *
 * Instances join like a late static worker, with the join material the control-plane nodes keep
 * published (templates/refresh-join-token.sh); they learn their name, address and zone at boot
 * from the instance metadata service (templates/node-identity.sh), since EC2 assigns them.
 *
 * - desired_capacity is set at creation and then ignored (lifecycle ignore_changes): whatever
 *   scales the group (a person, a scheduled action, the cluster autoscaler) owns it, and an apply
 *   must not undo that.
 * - No instance refresh block: a new launch template version (user data, image, type, volume)
 *   reaches instances launched afterwards only, the way rotation-class changes reach static nodes
 *   only through `npm run rotate`. An automatic refresh would replace every worker on every such
 *   apply, undrained (nothing here cordons and drains a node before the group terminates it).
 *   Start one deliberately: `aws autoscaling start-instance-refresh` (docs/operations-changes.md).
 * - The group waits for the private subnets' reservations of the static nodes' addresses
 *   (ClusterNetwork.staticHostReservations, lib/addressing.ts): EC2 never gives an instance of the
 *   group an address a static node is planned at.
 */
import { Construct } from "constructs";
import type { ITerraformDependable } from "cdktf";
import { AutoscalingGroup } from "@cdktf/provider-aws/lib/autoscaling-group";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import type { Topology, WorkerAutoScaling } from "../topology";
import { METADATA_HOP_LIMIT } from "./cluster-nodes";
import { ARM64_INSTANCE_TYPE, BURSTABLE_INSTANCE_TYPE, ec2UserData, instanceLaunchOptions } from "../ec2";


export interface WorkerAutoScalingProps {
  /** The topology; topology.workerAutoScaling must be set. */
  readonly topology: Topology;
  /** Private subnet ID by zone index (topology.zones order): the group spans all of them. */
  readonly privateSubnetIds: readonly string[];
  readonly securityGroupId: string;
  readonly instanceProfileName: string;
  /** The image every instance boots (the cluster's Ubuntu lookup or nodes.amiId). */
  readonly imageId: string;
  /** The template's user data (renderUserData of topology.workerAutoScaling.template). */
  readonly userData: string;
  /**
   * Tags of every instance and root volume. The provider's default_tags do not reach what a launch
   * template launches, so they are repeated here (the Cluster and Role tags scope the nodes' IAM).
   */
  readonly tags: Readonly<Record<string, string>>;
  /** The reservations of the static nodes' addresses in the group's subnets: the group waits for them. */
  readonly staticHostReservations: readonly ITerraformDependable[];
  /**
   * What must be in place before an instance boots (as ClusterNodesProps.dependsOn).
   * @default - none
   */
  readonly dependsOn?: readonly ITerraformDependable[];
}

export class WorkerAutoScalingGroup extends Construct {
  public readonly launchTemplate: LaunchTemplate;
  public readonly group: AutoscalingGroup;

  constructor(scope: Construct, id: string, props: WorkerAutoScalingProps) {
    super(scope, id);
    const { topology } = props;
    const autoScaling: WorkerAutoScaling | undefined = topology.workerAutoScaling;
    const problems: string[] = [];
    if (!autoScaling) throw new Error(`${this.node.path}: the topology has no workers.autoScaling`);
    if (props.privateSubnetIds.length !== topology.zones.length) {
      problems.push(`privateSubnetIds: ${props.privateSubnetIds.length} given, expected one per zone (${topology.zones.length})`);
    }
    const { minSize, maxSize, desiredCapacity, instanceTypes, spot, template } = autoScaling;
    if (!(minSize <= desiredCapacity && desiredCapacity <= maxSize)) {
      problems.push(`sizes: expected minSize <= desiredCapacity <= maxSize, got ${minSize}, ${desiredCapacity}, ${maxSize}`);
    }
    if (instanceTypes.length === 0) problems.push("instanceTypes: empty");
    if (!topology.spec.nodes.amiId && instanceTypes.some((type) => ARM64_INSTANCE_TYPE.test(type))) {
      problems.push(`instanceTypes: ${instanceTypes.join(", ")}: arm64 types need nodes.amiId (the default image is amd64)`);
    }
    let encoded: ReturnType<typeof ec2UserData> | undefined;
    try {
      encoded = ec2UserData(template.name, props.userData);
    } catch (error) {
      problems.push((error as Error).message);
    }
    if (problems.length > 0) throw new Error(`${this.node.path}:\n  ${problems.join("\n  ")}`);

    const stack = topology.stack;
    const spec = topology.spec;
    const name = `${stack}-${template.name}`;
    const launch = instanceLaunchOptions(instanceTypes[0], spec.nodes);
    // A credit specification is rejected for a type without credits: only when every type has them.
    const cpuCredits = instanceTypes.every((type) => BURSTABLE_INSTANCE_TYPE.test(type)) ? launch.cpuCredits : undefined;
    const tags = { ...props.tags, Name: name, Role: template.role, Cluster: stack };

    this.launchTemplate = new LaunchTemplate(this, "launch-template", {
      name,
      description: `${stack}: Kubernetes workers of the Auto Scaling group`,
      imageId: props.imageId,
      instanceType: instanceTypes[0],
      // The launch template's ebs_optimized is a string.
      ebsOptimized: launch.ebsOptimized ? "true" : undefined,
      creditSpecification: cpuCredits ? { cpuCredits } : undefined,
      monitoring: { enabled: launch.monitoring },
      iamInstanceProfile: { name: props.instanceProfileName },
      vpcSecurityGroupIds: [props.securityGroupId],
      metadataOptions: {
        httpEndpoint: "enabled",
        // IMDSv2 only, 1 hop, no tags: as every static node (cluster-nodes.ts says why).
        httpTokens: "required",
        httpPutResponseHopLimit: METADATA_HOP_LIMIT,
        instanceMetadataTags: "disabled",
      },
      blockDeviceMappings: [
        {
          // Ubuntu's root device on EC2 images.
          deviceName: "/dev/sda1",
          ebs: { volumeType: "gp3", volumeSize: spec.nodes.rootVolumeGiB, encrypted: "true", deleteOnTermination: "true" },
        },
      ],
      // Synth-time base64 (EC2 wants it so): no Terraform template in it, and the review bundle has
      // the text (files/worker-asg/user-data.yaml); a document past 16 KB goes gzipped, as on instances.
      userData: "userData" in encoded! ? Buffer.from(encoded.userData, "utf8").toString("base64") : encoded!.userDataBase64,
      tagSpecifications: [
        { resourceType: "instance", tags },
        { resourceType: "volume", tags },
      ],
      tags: { Name: name, Role: template.role, Cluster: stack },
      // Each change is a new version; the group launches the latest (version "$Latest" below).
      updateDefaultVersion: true,
      dependsOn: props.dependsOn ? [...props.dependsOn] : undefined,
    });

    const templateRef = { launchTemplateId: this.launchTemplate.id, version: "$Latest" };
    this.group = new AutoscalingGroup(this, "group", {
      name,
      minSize,
      maxSize,
      desiredCapacity,
      vpcZoneIdentifier: [...props.privateSubnetIds],
      // EC2 status checks: the instance is replaced when EC2 says it is impaired. A joined but
      // NotReady kubelet is Kubernetes' to report; the group cannot see it without a hook.
      healthCheckType: "EC2",
      healthCheckGracePeriod: 300,
      // Spot: launch a replacement when EC2 signals a rebalance risk, before the interruption.
      capacityRebalance: spot ? true : undefined,
      ...(spot || instanceTypes.length > 1
        ? {
            mixedInstancesPolicy: {
              instancesDistribution: spot
                ? {
                    onDemandBaseCapacity: spot.onDemandBaseCapacity,
                    onDemandPercentageAboveBaseCapacity: spot.onDemandPercentageAboveBaseCapacity,
                    // AWS's recommendation: the pools least likely to be interrupted, at a low price.
                    spotAllocationStrategy: "price-capacity-optimized",
                    onDemandAllocationStrategy: "prioritized",
                  }
                : { onDemandBaseCapacity: 0, onDemandPercentageAboveBaseCapacity: 100, onDemandAllocationStrategy: "prioritized" },
              launchTemplate: {
                launchTemplateSpecification: templateRef,
                override: instanceTypes.map((instanceType) => ({ instanceType })),
              },
            },
          }
        : { launchTemplate: { id: this.launchTemplate.id, version: "$Latest" } }),
      // The launch template tags the instances; these tag the group itself.
      tag: Object.entries(tags)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, value]) => ({ key, value, propagateAtLaunch: false })),
      // Terraform does not wait for instances to join (they boot on their own, like static nodes).
      waitForCapacityTimeout: "0",
      lifecycle: { ignoreChanges: ["desired_capacity"] },
      dependsOn: [...props.staticHostReservations, ...(props.dependsOn ?? [])],
    });
  }
}
