/**
 * workers.autoScaling: the spec's rules and warnings, the launch template and group the stack
 * synthesizes, and what the review bundle says about their dynamic addresses.
 */
import { Testing } from "cdktf";
import { validateSpec, SpecError } from "../lib/validate";
import { buildTopology, ClusterNode, Topology, WORKER_GROUP_NAME } from "../lib/topology";
import { ClusterStack } from "../lib/cluster-stack";
import { renderUserData } from "../lib/render/user-data";
import { renderNodeFiles } from "../lib/render/node-files";
import { renderReviewBundle } from "../lib/review";
import { buildHaReport } from "../lib/ha-report";
import { analyzeFailures } from "../lib/failure-analysis";
import { dynamicHostStart, reservedHostBlocks } from "../lib/addressing";
import { mustParseCidr } from "../lib/cidr";
import { CHANGE_CLASSES } from "../lib/day2/change-classes";
import { shippedTopology } from "./support/specs";
import { dependsOnTransitively } from "./support/depends-on";

type Json = Record<string, any>;

const BASE = "loadBalancer:\n  kind: nlb\ncontrolPlane:\n  count: 3\n";
const spec = (workers: string) => `${BASE}workers:\n${workers}`;

function issues(yaml: string): string[] {
  try {
    validateSpec("asg.yaml", "asg", yaml);
  } catch (error) {
    if (error instanceof SpecError) return error.message.split("\n");
    throw error;
  }
  return [];
}

function warningsOf(yaml: string) {
  return validateSpec("asg.yaml", "asg", yaml).specWarnings.filter((warning) => warning.field.startsWith("workers"));
}

function topologyOf(yaml: string, name = "asg"): Topology {
  const { spec: parsed, warnings } = validateSpec(`${name}.yaml`, name, yaml);
  return buildTopology(parsed, warnings);
}

function synth(topology: Topology): Json {
  const userData = (node: ClusterNode) => renderUserData(topology, node);
  return JSON.parse(Testing.synth(new ClusterStack(Testing.app(), topology.stack, { topology, userData })));
}

const only = (doc: Json, type: string): Json => {
  const found = Object.values(doc.resource?.[type] ?? {});
  expect(found).toHaveLength(1);
  return found[0] as Json;
};

describe("validation", () => {
  test("production's group is valid, warns nothing about workers, and passes strict mode", () => {
    const production = shippedTopology("production");
    expect(production.workers).toHaveLength(0);
    expect(production.workerAutoScaling).toMatchObject({ minSize: 3, maxSize: 9, desiredCapacity: 3, instanceTypes: ["t3.medium"] });
    // Its one warning is the VPC endpoints' cost, not an HA or workload warning.
    expect(production.warnings.filter((warning) => warning.startsWith("workers"))).toEqual([]);
    expect(production.warnings).toEqual([expect.stringMatching(/^network\.vpcEndpoints: /)]);
  });

  test("desiredCapacity defaults to minSize; instanceTypes to workers.instanceType", () => {
    const topology = topologyOf(spec("  count: 0\n  instanceType: m6i.large\n  autoScaling: {minSize: 2, maxSize: 4}\n"));
    expect(topology.workerAutoScaling).toMatchObject({ desiredCapacity: 2, instanceTypes: ["m6i.large"] });
    expect(topology.workerAutoScaling!.template).toMatchObject({ name: WORKER_GROUP_NAME, role: "worker", bootstrap: "join", dynamic: true });
  });

  test.each([
    ["minSize above maxSize", "  count: 0\n  autoScaling: {minSize: 5, maxSize: 3}\n", "asg.yaml: workers.autoScaling.minSize: 5: must be at most workers.autoScaling.maxSize (3)"],
    ["desiredCapacity below minSize", "  count: 0\n  autoScaling: {minSize: 3, maxSize: 6, desiredCapacity: 2}\n", "asg.yaml: workers.autoScaling.desiredCapacity: 2: must be from workers.autoScaling.minSize (3) to maxSize (6)"],
    ["desiredCapacity above maxSize", "  count: 0\n  autoScaling: {minSize: 3, maxSize: 6, desiredCapacity: 7}\n", "asg.yaml: workers.autoScaling.desiredCapacity: 7: must be from workers.autoScaling.minSize (3) to maxSize (6)"],
    ["spot without instanceTypes", "  count: 0\n  autoScaling: {minSize: 3, maxSize: 6, spot: {}}\n", "asg.yaml: workers.autoScaling.instanceTypes: (missing): required with workers.autoScaling.spot"],
    ["a type listed twice", "  count: 0\n  autoScaling: {minSize: 3, maxSize: 6, instanceTypes: [m6i.large, m5.large, m6i.large]}\n", "asg.yaml: workers.autoScaling.instanceTypes.2: \"m6i.large\": listed twice"],
    ["not an instance type", "  count: 0\n  autoScaling: {minSize: 3, maxSize: 6, instanceTypes: [large]}\n", "asg.yaml: workers.autoScaling.instanceTypes.0: \"large\": expected an EC2 instance type such as t3.medium"],
    ["arm64 and x86 together", "  count: 0\n  autoScaling: {minSize: 3, maxSize: 6, instanceTypes: [m6i.large, m7g.large]}\nnodes:\n  amiId: ami-0123456789abcdef0\n", "asg.yaml: workers.autoScaling.instanceTypes: [\"m6i.large\",\"m7g.large\"]: mixes arm64 (Graviton) and x86 types"],
    ["arm64 without an image", "  count: 0\n  autoScaling: {minSize: 3, maxSize: 6, instanceTypes: [m7g.large]}\n", "asg.yaml: workers.autoScaling.instanceTypes.0: \"m7g.large\": an arm64 (Graviton) type, but the default Ubuntu image is amd64"],
    ["workers.instanceType unused", "  count: 0\n  instanceType: m6i.large\n  autoScaling: {minSize: 3, maxSize: 6, instanceTypes: [m5.large]}\n", "asg.yaml: workers.instanceType: \"m6i.large\": unused: there are no static workers"],
    ["on-demand base above maxSize", "  count: 0\n  autoScaling: {minSize: 3, maxSize: 6, instanceTypes: [m6i.large, m5.large], spot: {onDemandBaseCapacity: 7}}\n", "asg.yaml: workers.autoScaling.spot.onDemandBaseCapacity: 7: must be at most workers.autoScaling.maxSize (6)"],
    ["a percentage above 100", "  count: 0\n  autoScaling: {minSize: 3, maxSize: 6, instanceTypes: [m6i.large, m5.large], spot: {onDemandPercentageAboveBaseCapacity: 101}}\n", "asg.yaml: workers.autoScaling.spot.onDemandPercentageAboveBaseCapacity: 101: expected at most 100"],
    ["maxSize 0", "  count: 0\n  autoScaling: {minSize: 0, maxSize: 0}\n", "asg.yaml: workers.autoScaling.maxSize: 0: expected at least 1"],
    ["an unknown field", "  count: 0\n  autoScaling: {min: 3, maxSize: 6}\n", "asg.yaml: workers.autoScaling.min: 3: unknown field; accepted here: minSize, maxSize, desiredCapacity, instanceTypes, spot"],
    ["more instances than the pod range holds", "  count: 0\n  autoScaling: {minSize: 3, maxSize: 300}\nnetwork:\n  podSubnet: 10.244.0.0/24\n", "asg.yaml: network.podSubnet: \"10.244.0.0/24\": too small: every node takes a /24, so 303 nodes need a /15 or larger"],
    ["a maxSize one zone's subnet cannot hold", "  count: 0\n  autoScaling: {minSize: 3, maxSize: 64}\nnetwork:\n  vpcCidr: 10.0.0.0/22\n", "asg.yaml: workers.autoScaling.maxSize: 64: network.vpcCidr 10.0.0.0/22 leaves 55 addresses per zone for the group (hosts 64+ of each private subnet, less 8 for the AWS Network Load Balancer), and one zone may have to hold all of it; use a larger VPC or at most 55"],
  ])("error: %s", (_, workers, expected) => {
    const found = issues(spec(workers));
    expect(found.some((line) => line.startsWith(expected))).toBe(true);
    if (!found.some((line) => line.startsWith(expected))) console.log(found);
  });

  test("static workers beside the group are allowed, and both count as workers", () => {
    const topology = topologyOf(spec("  count: 2\n  autoScaling: {minSize: 2, maxSize: 4}\n"));
    expect(topology.workers).toHaveLength(2);
    expect(topology.workerAutoScaling!.minSize).toBe(2);
    expect(warningsOf(spec("  count: 2\n  autoScaling: {minSize: 0, maxSize: 4}\n"))).toEqual([]);
  });

  test.each([
    ["a group that may scale to zero with no static worker", "  count: 0\n  autoScaling: {minSize: 0, maxSize: 4}\n", "workload", "workers.autoScaling.minSize", /may scale to zero/],
    ["a single worker at the minimum", "  count: 0\n  autoScaling: {minSize: 1, maxSize: 4}\n", "ha", "workers.autoScaling.minSize", /one worker: losing it leaves pods nowhere to run/],
    ["Spot-only capacity", "  count: 0\n  autoScaling: {minSize: 3, maxSize: 6, instanceTypes: [m6i.large, m5.large], spot: {}}\n", "ha", "workers.autoScaling.spot", /every worker is Spot/],
    ["Spot with one instance type", "  count: 0\n  autoScaling: {minSize: 3, maxSize: 6, instanceTypes: [m6i.large], spot: {onDemandBaseCapacity: 2}}\n", "ha", "workers.autoScaling.instanceTypes", /one Spot pool per zone/],
  ])("warning: %s", (_, workers, category, field, message) => {
    const found = warningsOf(spec(workers));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ category, field });
    expect(found[0].message).toMatch(message);
  });

  test("no 'no workers' warning when the group has workers, and strict mode refuses the HA ones", () => {
    expect(warningsOf(spec("  count: 0\n  autoScaling: {minSize: 3, maxSize: 6}\n"))).toEqual([]);
    expect(issues(`strict: true\n${spec("  count: 0\n  autoScaling: {minSize: 1, maxSize: 6}\n")}`).join("\n")).toMatch(
      /workers.autoScaling.minSize: 1: HA warning refused by strict mode/,
    );
  });

  test("every new field has a change class", () => {
    for (const field of ["minSize", "maxSize", "desiredCapacity", "instanceTypes", "spot.onDemandBaseCapacity", "spot.onDemandPercentageAboveBaseCapacity"]) {
      expect(CHANGE_CLASSES[`workers.autoScaling.${field}` as keyof typeof CHANGE_CLASSES].class).toBe("in-place");
    }
  });
});

describe("addresses", () => {
  test("each private subnet reserves hosts 4-63 for the static nodes as aligned blocks", () => {
    expect(dynamicHostStart(3, 0)).toBe(64);
    expect(reservedHostBlocks(mustParseCidr("10.2.0.0/19"), 64)).toEqual(["10.2.0.4/30", "10.2.0.8/29", "10.2.0.16/28", "10.2.0.32/27"]);
  });

  test("the reservation grows to cover the static workers", () => {
    // 100 static workers over 3 zones: hosts 40-73 per zone.
    expect(dynamicHostStart(3, 100)).toBe(128);
    expect(reservedHostBlocks(mustParseCidr("10.0.0.0/19"), 128)).toEqual(["10.0.0.4/30", "10.0.0.8/29", "10.0.0.16/28", "10.0.0.32/27", "10.0.0.64/26"]);
  });
});

describe("production's stack", () => {
  const topology = shippedTopology("production");
  const doc = synth(topology);
  const template = only(doc, "aws_launch_template");
  const group = only(doc, "aws_autoscaling_group");
  const worker = topology.workerAutoScaling!.template;

  test("the launch template requires IMDSv2 with the static nodes' hop limit and no tags in IMDS", () => {
    const staticNode = Object.values(doc.resource.aws_instance as Record<string, Json>)[0];
    expect(template.metadata_options).toEqual({ http_endpoint: "enabled", http_tokens: "required", http_put_response_hop_limit: 1, instance_metadata_tags: "disabled" });
    expect(template.metadata_options.http_put_response_hop_limit).toBe(staticNode.metadata_options.http_put_response_hop_limit);
  });

  test("an encrypted gp3 root volume of nodes.rootVolumeGiB, deleted with the instance", () => {
    expect(template.block_device_mappings).toEqual([
      { device_name: "/dev/sda1", ebs: { volume_type: "gp3", volume_size: 40, encrypted: "true", delete_on_termination: "true" } },
    ]);
  });

  test("the worker instance profile and security group, the Ubuntu image and the worker user data", () => {
    expect(template.iam_instance_profile.name).toMatch(/aws_iam_instance_profile\.cluster_identity_worker-instance-profile_/);
    expect(template.vpc_security_group_ids).toHaveLength(1);
    expect(template.vpc_security_group_ids[0]).toMatch(/aws_security_group\.cluster_security-groups_worker_/);
    expect(template.image_id).toMatch(/data\.aws_ami\.cluster_nodes_ubuntu-ami_/);
    expect(Buffer.from(template.user_data, "base64").toString("utf8")).toBe(renderUserData(topology, worker));
  });

  test("instances and volumes carry the cluster's tags (Cluster and Role scope the nodes' IAM)", () => {
    const tags = { Cluster: "production", ManagedBy: "kubeadm-ha", Name: "production-worker-asg", Role: "worker" };
    expect(template.tag_specifications).toEqual([
      { resource_type: "instance", tags },
      { resource_type: "volume", tags },
    ]);
  });

  test("the group spans the private subnet of every zone, keeps its bounds, and leaves desired capacity to the scaler", () => {
    expect(group.vpc_zone_identifier).toEqual(topology.zones.map((zone) => expect.stringContaining(`private-subnet-${zone.name}`)));
    expect(group).toMatchObject({ min_size: 3, max_size: 9, desired_capacity: 3, health_check_type: "EC2", wait_for_capacity_timeout: "0" });
    expect(group.lifecycle.ignore_changes).toEqual(["desired_capacity"]);
    expect(group.launch_template).toEqual({ id: expect.stringMatching(/aws_launch_template\./), version: "$Latest" });
    // No automatic instance refresh: a new template version reaches new instances only.
    expect(group.instance_refresh).toBeUndefined();
    expect(group.mixed_instances_policy).toBeUndefined();
  });

  test("the group waits for the static hosts' reservations in every zone", () => {
    const reservations = Object.entries(doc.resource.aws_ec2_subnet_cidr_reservation as Record<string, Json>);
    expect(reservations).toHaveLength(4 * topology.zones.length);
    for (const [, reservation] of reservations) expect(reservation.reservation_type).toBe("explicit");
    expect(reservations.map(([, r]) => r.cidr_block).slice(0, 4)).toEqual(["10.2.0.4/30", "10.2.0.8/29", "10.2.0.16/28", "10.2.0.32/27"]);
    for (const [id] of reservations) expect(group.depends_on).toContain(`aws_ec2_subnet_cidr_reservation.${id}`);
  });

  test("its instances boot after what every node's first boot needs (the boot prerequisites barrier)", () => {
    const rules = Object.keys(doc.resource.aws_vpc_security_group_ingress_rule as Record<string, Json>).map((id) => `aws_vpc_security_group_ingress_rule.${id}`);
    const template = only(doc, "aws_launch_template");
    for (const waiting of [group, template]) {
      expect(waiting.depends_on).toContainEqual(expect.stringMatching(/^terraform_data\.cluster_boot-prerequisites_/));
      expect([...dependsOnTransitively(doc, waiting)]).toEqual(expect.arrayContaining(rules));
    }
  });

  test("an output names the group", () => {
    expect(doc.output.worker_auto_scaling_group.value).toMatch(/aws_autoscaling_group\..*\.name/);
  });

  test("the review says the group's addresses are dynamic and shows its files", () => {
    const rendered = new Map([...topology.nodes, worker].map((node) => {
      const files = renderNodeFiles(topology, node);
      return [node.name, { files, userData: renderUserData(topology, node, files) }];
    }));
    const bundle = renderReviewBundle(topology, rendered);
    const review = bundle.get("REVIEW.md")!;
    expect(review).toMatch(/\| worker-asg \(Auto Scaling group: 3-9, 3 at creation\) \| worker \| dynamic \| eu-west-1a, eu-west-1b, eu-west-1c \|/);
    expect(review).toMatch(/\*\*Addresses of worker-asg are dynamic\.\*\*/);
    expect(review).toMatch(/worker_auto_scaling\["worker-asg: Auto Scaling group<br\/>3-9 workers over 3 zones<br\/>addresses dynamic"\]/);
    expect(bundle.get("files/worker-asg/node-identity.sh")).toBeDefined();
    expect(bundle.get("files/worker-asg/kubeadm.yaml.in")).toContain("@NODE_NAME@");
    const summary = JSON.parse(bundle.get("topology.json")!);
    expect(summary.workerAutoScaling).toMatchObject({ name: "worker-asg", minSize: 3, maxSize: 9, addresses: "dynamic", nodeNames: "worker-<instance id>" });
    expect(summary.nodes.map((node: Json) => node.role)).not.toContain("worker");
    const report = buildHaReport(topology);
    expect(report.workerAutoScaling).toMatchObject({ purchase: "on-demand", addresses: "dynamic" });
    expect(report.summary).toMatchObject({ survivesEverySingleNodeFailure: true, survivesEveryZoneFailure: true, haWarnings: 0 });
  });

  test("the failure analysis counts the group at its minimum", () => {
    const lone = analyzeFailures(topologyOf(spec("  count: 0\n  autoScaling: {minSize: 1, maxSize: 4}\n"))).find((c) => c.failure === "one worker node")!;
    expect(lone.survives).toBe(false);
    const worker = analyzeFailures(topology).find((c) => c.failure === "one worker node")!;
    expect(worker.survives).toBe(true);
    expect(worker.why).toMatch(/replaces a lost instance/);
  });

  test("rotate and outdated leave the group's instances alone: they are not nodes of the topology", () => {
    expect(topology.nodes.some((node) => node.dynamic)).toBe(false);
    expect(Object.keys(doc.resource.terraform_data).filter((name) => name.startsWith("node_config_worker"))).toEqual([]);
  });
});

describe("Spot and several instance types", () => {
  const topology = topologyOf(
    `${BASE}workers:\n  count: 0\n  autoScaling:\n    minSize: 3\n    maxSize: 12\n    instanceTypes: [m6i.large, m5.large, m6a.large]\n    spot: {onDemandBaseCapacity: 2, onDemandPercentageAboveBaseCapacity: 25}\n`,
    "spot",
  );
  const doc = synth(topology);
  const group = only(doc, "aws_autoscaling_group");
  const template = only(doc, "aws_launch_template");

  test("a mixed instances policy with the types as overrides and the Spot split", () => {
    expect(group.launch_template).toBeUndefined();
    expect(group.capacity_rebalance).toBe(true);
    expect(group.mixed_instances_policy.instances_distribution).toEqual({
      on_demand_base_capacity: 2,
      on_demand_percentage_above_base_capacity: 25,
      on_demand_allocation_strategy: "prioritized",
      spot_allocation_strategy: "price-capacity-optimized",
    });
    expect(group.mixed_instances_policy.launch_template.override).toEqual([
      { instance_type: "m6i.large" },
      { instance_type: "m5.large" },
      { instance_type: "m6a.large" },
    ]);
    expect(group.mixed_instances_policy.launch_template.launch_template_specification.version).toBe("$Latest");
  });

  test("no credit specification for types without CPU credits", () => {
    expect(template.instance_type).toBe("m6i.large");
    expect(template.credit_specification).toBeUndefined();
  });
});
