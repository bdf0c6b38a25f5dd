/**
 * Real Terraform, offline: every shipped cluster in clusters/ and the test-spec variants pass
 * `terraform validate` and `terraform plan` with the real hashicorp/aws provider (see
 * lib/plan/terraform.ts for the mirror, the override file and the loopback AWS stub).
 *
 * The plans start together in beforeAll (two terraform processes at a time) and each test awaits
 * its own, so a failure names its stack and carries Terraform's message.
 */
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT, shippedTopology, inlineTopology } from "../support/specs";
import { synthesizeSpecs } from "../support/synth-specs";
import { STUB_AMI_ID } from "../../lib/plan/aws-stub";
import { findTerraform, PLAN_OVERRIDE_FILE, StackPlan, startTerraform, TerraformError, TerraformHarness } from "../../lib/plan/terraform";
import type { Topology } from "../../lib/topology";
import { dynamicHostStart, reservedHostBlocks } from "../../lib/addressing";
import { mustParseCidr } from "../../lib/cidr";

const PLAN_TIMEOUT_MS = 900_000;

/** Every spec shipped in clusters/ (a new one is planned without touching this file). */
const SHIPPED = fs.readdirSync(path.join(REPO_ROOT, "clusters")).filter((file) => file.endsWith(".yaml")).map((file) => file.replace(/\.yaml$/, "")).sort();

/** Variants covering each option that changes the resources, beside the shipped clusters. */
const VARIANTS: Record<string, string> = {
  "nginx-per-zone-nat": "controlPlane: {count: 3}\nloadBalancer: {kind: nginx}\nnetwork: {natGateways: perZone}\n",
  "flannel-two-zones-pinned-ami": `cni: {plugin: flannel}\nnetwork: {availabilityZones: [eu-west-1a, eu-west-1b]}\nnodes: {amiId: ${STUB_AMI_ID}}\n`,
  "external-etcd-5": "controlPlane: {count: 2}\netcd: {topology: external, members: 5}\n",
  "one-control-plane": "controlPlane: {count: 1}\nworkers: {count: 0}\nregion: us-east-1\ntags: {Team: platform, CostCenter: \"42\"}\n",
  "s3-backend": "state: {backend: s3, bucket: kubeadm-ha-state-example, key: clusters/s3-backend.tfstate}\n",
  // Static workers beside a Spot group of several types (production has an On-Demand group of one).
  "asg-spot": "workers: {count: 1, autoScaling: {minSize: 2, maxSize: 6, instanceTypes: [m6i.large, m5.large, m6a.large], spot: {onDemandBaseCapacity: 1}}}\n",
  "endpoints-flow-logs": "network: {vpcEndpoints: true, flowLogs: {retentionDays: 30, trafficType: REJECT}}\n",
  "flow-logs-s3": "etcd: {topology: external}\nnetwork: {flowLogs: {destination: s3, s3Bucket: kubeadm-ha-flow-logs-example, s3KeyPrefix: vpc}}\n",
};

let tf: TerraformHarness;
const stacks: Record<string, { dir: string; topology: Topology }> = {};
const plans = new Map<string, Promise<StackPlan>>();

beforeAll(async () => {
  tf = await startTerraform();
  const shippedSpecs = Object.fromEntries(SHIPPED.map((name) => [name, fs.readFileSync(path.join(REPO_ROOT, "clusters", `${name}.yaml`), "utf8")]));
  const dirs = synthesizeSpecs({ ...shippedSpecs, ...VARIANTS }, "plan-specs");
  for (const name of SHIPPED) stacks[name] = { dir: dirs[name], topology: shippedTopology(name) };
  for (const [name, text] of Object.entries(VARIANTS)) stacks[name] = { dir: dirs[name], topology: inlineTopology(name, text) };
  for (const [name, { dir }] of Object.entries(stacks)) {
    const plan = tf.planStack(dir);
    plan.catch(() => undefined); // awaited (and reported) by the stack's own test
    plans.set(name, plan);
  }
}, PLAN_TIMEOUT_MS);

afterAll(async () => {
  await tf?.close();
});

function creates(plan: StackPlan, type: string): number {
  return (plan.json.resource_changes ?? []).filter((change) => change.type === type && change.change.actions.join() === "create").length;
}

describe.each([...SHIPPED, ...Object.keys(VARIANTS)])("%s", (name) => {
  test("validates and plans with the real provider: every resource created, one instance per node", async () => {
    const plan = await plans.get(name)!;
    const { topology } = stacks[name];
    const managed = (plan.json.resource_changes ?? []).filter((change) => change.mode === "managed");
    expect(managed.length).toBeGreaterThan(0);
    expect(managed.filter((change) => change.change.actions.join() !== "create")).toEqual([]);
    expect(plan.text).toContain(`Plan: ${managed.length} to add, 0 to change, 0 to destroy.`);
    expect(creates(plan, "aws_instance")).toBe(topology.nodes.length);
    expect(creates(plan, "aws_subnet")).toBe(2 * topology.zones.length);
    expect(creates(plan, "aws_nat_gateway")).toBe(topology.spec.network.natGateways === "perZone" ? topology.zones.length : 1);
    const ips = Object.values(plan.json.planned_values.outputs?.private_ips?.value as Record<string, Record<string, string>>).flatMap(Object.values).sort();
    expect(ips).toEqual(topology.nodes.map((node) => node.privateIp).sort());
    // workers.autoScaling: one launch template and group. Every stack reserves the static hosts in every zone.
    const group = topology.workerAutoScaling;
    expect(creates(plan, "aws_autoscaling_group")).toBe(group ? 1 : 0);
    expect(creates(plan, "aws_launch_template")).toBe(group ? 1 : 0);
    const hostEnd = dynamicHostStart(topology.zones.length, topology.workers.length);
    const blocks = topology.zones.map((zone) => reservedHostBlocks(mustParseCidr(zone.privateSubnet), hostEnd).length);
    expect(creates(plan, "aws_ec2_subnet_cidr_reservation")).toBe(blocks.reduce((a, b) => a + b, 0));
    expect(blocks.every((count) => count >= 4)).toBe(true);
    if (group) {
      const planned = (plan.json.resource_changes ?? []).find((change) => change.type === "aws_autoscaling_group")!.change.after as Record<string, unknown>;
      expect(planned).toMatchObject({ min_size: group.minSize, max_size: group.maxSize, desired_capacity: group.desiredCapacity });
    }
  }, PLAN_TIMEOUT_MS);
});

test("a pinned AMI plans without the Ubuntu lookup; the default one resolves through the stub", async () => {
  const pinned = await plans.get("flannel-two-zones-pinned-ami")!;
  const instances = pinned.json.planned_values.root_module.resources!.filter((r) => r.type === "aws_instance");
  expect(new Set(instances.map((r) => r.values.ami))).toEqual(new Set([STUB_AMI_ID]));
  expect(tf.stub.calls).toContain("DescribeImages");
}, PLAN_TIMEOUT_MS);

test("the S3-backed stack keeps its backend in the synthesized JSON; only the copy plans with local state", async () => {
  const plan = await plans.get("s3-backend")!;
  const original = JSON.parse(fs.readFileSync(path.join(stacks["s3-backend"].dir, "cdk.tf.json"), "utf8"));
  expect(original.terraform.backend.s3).toMatchObject({ bucket: "kubeadm-ha-state-example", use_lockfile: true });
  expect(original.terraform.required_providers.aws.version).toBe("6.25.0");
  const override = JSON.parse(fs.readFileSync(path.join(plan.dir, PLAN_OVERRIDE_FILE), "utf8"));
  expect(override.terraform.backend).toEqual({ local: { path: "terraform.tfstate" } });
  if (tf.mirror) expect(plan.json.configuration.provider_config?.aws).toMatchObject({ version_constraint: tf.mirror.awsVersion });
}, PLAN_TIMEOUT_MS);

test("VPC endpoints and flow logs plan with the real provider: an endpoint per service, the default group emptied", async () => {
  const plan = await plans.get("endpoints-flow-logs")!;
  const planned = plan.json.planned_values.root_module.resources!;
  const endpoints = planned.filter((r) => r.type === "aws_vpc_endpoint").map((r) => [r.values.service_name, r.values.vpc_endpoint_type, r.values.private_dns_enabled]);
  expect(endpoints.sort()).toEqual([
    ["com.amazonaws.eu-west-1.ec2messages", "Interface", true],
    ["com.amazonaws.eu-west-1.kms", "Interface", true],
    // private_dns_enabled is computed (unknown at plan) for a gateway endpoint, and an unknown value is left out of planned_values.
    ["com.amazonaws.eu-west-1.s3", "Gateway", undefined],
    ["com.amazonaws.eu-west-1.ssm", "Interface", true],
    ["com.amazonaws.eu-west-1.ssmmessages", "Interface", true],
    ["com.amazonaws.eu-west-1.sts", "Interface", true],
  ]);
  // No rule declared: the provider removes AWS's rules on adoption; ingress and egress stay unknown until then.
  const [defaultGroup] = planned.filter((r) => r.type === "aws_default_security_group");
  expect(defaultGroup.values).toMatchObject({ revoke_rules_on_delete: false });
  expect([defaultGroup.values.ingress, defaultGroup.values.egress]).toEqual([undefined, undefined]);
  const [logGroup] = planned.filter((r) => r.type === "aws_cloudwatch_log_group");
  expect(logGroup.values).toMatchObject({ name: "/kubeadm-ha/endpoints-flow-logs/vpc-flow-logs", retention_in_days: 30 });
  expect(planned.filter((r) => r.type === "aws_kms_alias").map((r) => r.values.name)).toContain("alias/kubeadm-ha/endpoints-flow-logs/vpc-flow-logs");
  const [flowLog] = planned.filter((r) => r.type === "aws_flow_log");
  expect(flowLog.values).toMatchObject({ traffic_type: "REJECT", log_destination_type: "cloud-watch-logs" });
  const s3 = (await plans.get("flow-logs-s3")!).json.planned_values.root_module.resources!.filter((r) => r.type === "aws_flow_log");
  expect(s3.map((r) => r.values.log_destination_type)).toEqual(["s3"]);
  expect(s3[0].values.log_destination).toMatch(/^arn:aws:s3:::kubeadm-ha-flow-logs-example\/vpc$/);
}, PLAN_TIMEOUT_MS);

test("a plan error fails with Terraform's own message", async () => {
  const broken = path.join(tf.workDir, "broken-stack");
  fs.mkdirSync(broken);
  const stack = JSON.parse(fs.readFileSync(path.join(stacks["five-server"].dir, "cdk.tf.json"), "utf8"));
  const [first] = Object.keys(stack.resource.aws_instance);
  stack.resource.aws_instance[first].subnet_id = "${aws_subnet.no_such_subnet.id}";
  fs.writeFileSync(path.join(broken, "cdk.tf.json"), JSON.stringify(stack));
  const error = await tf.planStack(broken).then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(TerraformError);
  expect((error as TerraformError).message).toMatch(/Reference to undeclared resource[\s\S]*aws_subnet\.no_such_subnet/);
}, PLAN_TIMEOUT_MS);

test("a read the stub does not serve fails the plan at once, naming the API call (nothing goes to AWS)", async () => {
  const dir = path.join(tf.workDir, "unserved-read");
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "main.tf.json"), JSON.stringify({
    terraform: { required_providers: { aws: { source: "aws", version: "6.25.0" } } },
    provider: { aws: [{ region: "eu-west-1" }] },
    data: { aws_vpc: { default: { default: true } } },
  }));
  const started = Date.now();
  const error = await tf.planStack(dir).then(() => undefined, (caught: unknown) => caught);
  expect((error as TerraformError).message).toMatch(/does not serve DescribeVpcs/);
  expect(Date.now() - started).toBeLessThan(120_000);
}, PLAN_TIMEOUT_MS);

test("without terraform the tests fail with what to install, not skip", () => {
  const previous = process.env.KUBEADM_HA_TERRAFORM;
  process.env.KUBEADM_HA_TERRAFORM = path.join(tf.workDir, "no-terraform-here");
  try {
    expect(() => findTerraform()).toThrow(/terraform not found .*Terraform >= 1\.10 on PATH/);
  } finally {
    if (previous === undefined) delete process.env.KUBEADM_HA_TERRAFORM;
    else process.env.KUBEADM_HA_TERRAFORM = previous;
  }
});
