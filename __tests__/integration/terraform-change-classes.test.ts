/**
 * Each change class of lib/day2/change-classes.ts, planned by real Terraform (-refresh=false)
 * against a synthetic state of the shipped five-server stack (lib/plan/synthetic-state.ts):
 * - in-place: the plan applies it (tags, a worker added) and touches no control-plane node;
 * - rotation: no instance changes, and the plan's checks name every out-of-date node;
 * - immutable and membership: the plan fails, naming terraform_data.<guard>;
 * - the lifts the day-2 commands synthesize with: one scaling step, one node's replacement.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../support/specs";
import { synthesizeSpecs } from "../support/synth-specs";
import { startTerraform, TerraformError, TerraformHarness } from "../../lib/plan/terraform";
import { DayTwoPlan, planAgainstBase, syntheticStateOf } from "../../lib/plan/synthetic-state";
import { synthesizeClusters } from "../../lib/app";
import type { GuardLift } from "../../lib/day2/guard-lift";

const TIMEOUT_MS = 900_000;
const shipped = (name: string) => fs.readFileSync(path.join(REPO_ROOT, "clusters", `${name}.yaml`), "utf8");
const fiveServerWith = (sections: Record<string, string>) =>
  Object.entries(sections).reduce((text, [key, value]) => text.replace(new RegExp(`^${key}:\\n(?:  .*\\n)+`, "m"), `${key}: ${value}\n`), shipped("five-server"));

/** Synthesizes five-server from `text` with a guard lift (what the day-2 commands do). */
function synthesizeLifted(text: string, lift: GuardLift): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "day2-lift-"));
  fs.mkdirSync(path.join(root, "clusters"));
  fs.writeFileSync(path.join(root, "clusters", "five-server.yaml"), text);
  synthesizeClusters({ clustersDir: path.join(root, "clusters"), outdir: path.join(root, "out"), guardLifts: new Map([["five-server", lift]]) });
  return path.join(root, "out", "stacks", "five-server");
}

let tf: TerraformHarness;
let base: string;
const heads: Record<string, string> = {};
const plans: Record<string, Promise<DayTwoPlan>> = {};
const CASES: Record<string, string> = {
  "in-place": shipped("five-server").replace("workers:\n  count: 2", "workers:\n  count: 3") + "tags: {Team: platform}\n",
  rotation: fiveServerWith({ controlPlane: "{count: 2, instanceType: t3.large}", leaderElection: "{leaseDuration: 20s, renewDeadline: 10s, retryPeriod: 2s}" })
    .replace('kubernetesVersion: "1.35.0"', 'kubernetesVersion: "1.35.1"'),
  "immutable vpcCidr": shipped("five-server").replace("vpcCidr: 10.0.0.0/16", "vpcCidr: 10.2.0.0/16"),
  "immutable cni": shipped("five-server") + "cni: {plugin: flannel}\n",
  membership: fiveServerWith({ controlPlane: "{count: 3, instanceType: t3.medium}" }),
  "in-place network": shipped("five-server").replace("  serviceSubnet: 10.96.0.0/12\n", "  serviceSubnet: 10.96.0.0/12\n  vpcEndpoints: true\n  flowLogs: {retentionDays: 30}\n"),
};

beforeAll(async () => {
  tf = await startTerraform();
  base = synthesizeSpecs({ "five-server": shipped("five-server") }, "classes-base")["five-server"];
  for (const [name, text] of Object.entries(CASES)) {
    heads[name] = synthesizeSpecs({ "five-server": text }, `classes-${name.replace(/\W/g, "-")}`)["five-server"];
  }
  heads["scaling step"] = synthesizeLifted(CASES.membership, { scale: { role: "control-plane", count: 3 } });
  // KUBEADM_HA_PLAN_CASES=rotation,... plans only those (debugging; the others' tests then fail).
  const only = process.env.KUBEADM_HA_PLAN_CASES?.split(",");
  for (const name of Object.keys(heads).filter((candidate) => !only || only.includes(candidate))) {
    plans[name] = planAgainstBase(base, heads[name], { harness: tf });
    plans[name].catch(() => undefined); // awaited by its test
  }
}, TIMEOUT_MS);

afterAll(async () => {
  await tf?.close();
});

const actions = (plan: DayTwoPlan) =>
  Object.fromEntries(plan.resourceChanges.map((change) => [change.address.replace(/_[0-9A-F]{8}$/, ""), change.change.actions.join("+")]));

test("in-place: a worker is created and tags are updated; no instance is replaced or destroyed, no guard changes", async () => {
  const plan = await plans["in-place"];
  const byAddress = actions(plan);
  expect(byAddress["aws_instance.cluster_nodes_worker-3"]).toBe("create");
  expect(byAddress["terraform_data.node_config_worker-3"]).toBe("create");
  expect(Object.values(byAddress).filter((action) => action !== "create" && action !== "update")).toEqual([]);
  expect(Object.keys(byAddress).filter((address) => address.startsWith("terraform_data.") && !address.endsWith("worker-3"))).toEqual([]);
  expect(plan.text).not.toContain("Check block assertion failed");
}, TIMEOUT_MS);

test("in-place: VPC endpoints and flow logs are created; no instance, rule or guard changes", async () => {
  expect(CASES["in-place network"]).toContain("vpcEndpoints: true");
  const plan = await plans["in-place network"];
  const byAddress = actions(plan);
  expect(Object.values(byAddress).filter((action) => action !== "create")).toEqual([]);
  const created = Object.keys(byAddress).map((address) => address.split(".")[0]).sort();
  expect([...new Set(created)]).toEqual([
    "aws_cloudwatch_log_group", "aws_flow_log", "aws_iam_role", "aws_iam_role_policy", "aws_kms_alias", "aws_kms_key",
    "aws_security_group", "aws_vpc_endpoint", "aws_vpc_security_group_ingress_rule",
  ]);
  expect(created.filter((type) => type === "aws_vpc_endpoint")).toHaveLength(6);
  expect(plan.text).not.toContain("Check block assertion failed");
}, TIMEOUT_MS);

test("rotation: instance type, Kubernetes version and leader election change no instance; the checks name each out-of-date node", async () => {
  const plan = await plans.rotation;
  expect(plan.resourceChanges.filter((change) => change.type === "aws_instance")).toEqual([]);
  expect(plan.resourceChanges.filter((change) => change.type === "terraform_data")).toEqual([]);
  // Terraform wraps diagnostics at 78 columns.
  const text = plan.text.replace(/[\s│]+/g, " ");
  for (const node of ["control-plane-1", "control-plane-2", "worker-1", "worker-2"]) {
    expect(text).toContain(`${node} runs an older configuration than this synth (a change that reaches it only by rotation): npm run rotate -- five-server --node ${node}`);
  }
  expect(text).not.toContain("lb-1 runs an older configuration");
}, TIMEOUT_MS);

test.each([
  ["immutable vpcCidr", "terraform_data.immutable_network_vpcCidr"],
  ["immutable cni", "terraform_data.immutable_cni_plugin"],
  ["membership", "terraform_data.membership_controlPlane_count"],
])("%s: the plan is refused, naming %s", async (name, guard) => {
  const error = await plans[name].then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(TerraformError);
  const output = (error as TerraformError).output.replace(/\s+/g, " ");
  expect(output).toContain(`Resource ${guard} has lifecycle.prevent_destroy set, but the plan calls for this resource to be destroyed`);
}, TIMEOUT_MS);

test("a scaling step (guard lifted): control-plane-3 and its record are created, the guard replaced, no member destroyed", async () => {
  const byAddress = actions(await plans["scaling step"]);
  expect(byAddress["aws_instance.cluster_nodes_control-plane-3"]).toBe("create");
  expect(byAddress["terraform_data.membership_controlPlane_count"]).toBe("delete+create");
  expect(byAddress["aws_instance.cluster_nodes_lb-1"]).toBe("delete+create");
  expect(Object.entries(byAddress).filter(([address, action]) => /control-plane-[12]/.test(address) && action.includes("delete"))).toEqual([]);
}, TIMEOUT_MS);

test("replacement: refused while the guard stands; with it lifted for one node, that node and its record alone are replaced", async () => {
  const { state } = await syntheticStateOf(tf, base);
  const json = JSON.parse(fs.readFileSync(path.join(base, "cdk.tf.json"), "utf8"));
  const address = `aws_instance.${Object.keys(json.resource.aws_instance).find((name) => name.startsWith("cluster_nodes_control-plane-2_"))}`;
  const args = () => ["plan", "-input=false", "-lock=false", "-no-color", "-refresh=false", `-replace=${address}`, `-target=${address}`,
    "-target=terraform_data.node_config_control-plane-2"];
  const guarded = await tf.prepare(base, { state, label: "replace-guarded" });
  const refused = await tf.run(guarded, args()).then(() => undefined, (caught: unknown) => caught);
  expect((refused as TerraformError).output.replace(/\s+/g, " ")).toContain(`Resource ${address} has lifecycle.prevent_destroy set`);

  const lifted = await tf.prepare(synthesizeLifted(shipped("five-server"), { replaceNode: "control-plane-2" }), { state, label: "replace-lifted" });
  const text = await tf.run(lifted, args());
  expect(text).toContain(`${address} will be replaced, as requested`);
  expect(text).toContain("terraform_data.node_config_control-plane-2 must be replaced");
  expect(text).toMatch(/Plan: 2 to add, \d+ to change, 2 to destroy\./);
}, TIMEOUT_MS);
