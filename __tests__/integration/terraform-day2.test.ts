/**
 * Day-2 plans with real Terraform against a synthetic prior state (lib/plan/synthetic-state.ts):
 * each shipped stack plans "No changes" against the state built from its own plan, and changed
 * specs show the actions the provider really takes (create, update in place, replace with its
 * replace_paths, delete).
 */
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "../support/specs";
import { synthesizeSpecs } from "../support/synth-specs";
import { STUB_ACCOUNT_ID } from "../../lib/plan/aws-stub";
import { startTerraform, TerraformHarness } from "../../lib/plan/terraform";
import { DayTwoPlan, planAgainstBase, StateV4 } from "../../lib/plan/synthetic-state";

const TIMEOUT_MS = 900_000;
const shipped = (name: string) => fs.readFileSync(path.join(REPO_ROOT, "clusters", `${name}.yaml`), "utf8");
/** The five-server spec with some fields replaced (top-level sections as YAML flow maps). */
const fiveServerWith = (sections: Record<string, string>) =>
  Object.entries(sections).reduce((text, [key, value]) => text.replace(new RegExp(`^${key}:\\n(?:  .*\\n)+`, "m"), `${key}: ${value}\n`), shipped("five-server"));

let tf: TerraformHarness;
let base: Record<string, string>;
const plans: Record<string, Promise<DayTwoPlan>> = {};

beforeAll(async () => {
  tf = await startTerraform();
  base = synthesizeSpecs({ "five-server": shipped("five-server"), "external-etcd": shipped("external-etcd") }, "day2-base");
  const grown = synthesizeSpecs({ "five-server": fiveServerWith({ workers: "{count: 3, instanceType: t3.large}" }) }, "day2-workers");
  const reshaped = synthesizeSpecs({ "five-server": fiveServerWith({ controlPlane: "{count: 3, instanceType: t3.medium}", workers: "{count: 1, instanceType: t3.medium}" }) }, "day2-control-plane");
  const start = (name: string, head: string, baseDir: string) => {
    plans[name] = planAgainstBase(baseDir, head, { harness: tf });
    plans[name].catch(() => undefined); // awaited by its test
  };
  start("five-server itself", base["five-server"], base["five-server"]);
  start("external-etcd itself", base["external-etcd"], base["external-etcd"]);
  start("workers grown and resized", grown["five-server"], base["five-server"]);
  start("control plane grown, a worker removed", reshaped["five-server"], base["five-server"]);
  // production's Auto Scaling group: bounds raised and a new desiredCapacity in the spec.
  const production = synthesizeSpecs({ production: shipped("production") }, "day2-production");
  const scaled = synthesizeSpecs(
    { production: shipped("production").replace("maxSize: 9\n    desiredCapacity: 3", "maxSize: 12\n    desiredCapacity: 6") },
    "day2-production-scaled",
  );
  start("production group scaled", scaled.production, production.production);
}, TIMEOUT_MS);

afterAll(async () => {
  await tf?.close();
});

function instanceIds(state: StateV4): Record<string, string> {
  return Object.fromEntries(state.resources.filter((r) => r.type === "aws_instance").map((r) => [r.name, r.instances[0].attributes.id as string]));
}

function actionsByNode(plan: DayTwoPlan): Record<string, string> {
  return Object.fromEntries(plan.resourceChanges.filter((c) => c.type === "aws_instance").map((c) => [
    ((c.change.after ?? c.change.before) as { tags: { Name: string } }).tags.Name.replace("five-server-", ""),
    c.change.actions.join("+"),
  ]));
}

describe.each(["five-server", "external-etcd"])("%s against the synthetic state of its own plan", (stack) => {
  test("plans No changes, with every resource in the state", async () => {
    const plan = await plans[`${stack} itself`];
    expect(plan.resourceChanges).toEqual([]);
    expect(plan.outputChanges).toEqual({});
    expect(plan.summary).toEqual({ add: 0, change: 0, destroy: 0, replace: 0 });
    expect(plan.text).toContain("No changes. Your infrastructure matches the configuration.");
    const stackJson = JSON.parse(fs.readFileSync(path.join(base[stack], "cdk.tf.json"), "utf8"));
    const declared = Object.values(stackJson.resource as Record<string, object>).reduce((n, byName) => n + Object.keys(byName).length, 0);
    expect(plan.baseState.resources).toHaveLength(declared);
  }, TIMEOUT_MS);

  test("the state's unknowns are plausible and references agree", async () => {
    const { baseState } = await plans[`${stack} itself`];
    const byType = (type: string) => baseState.resources.filter((r) => r.type === type).map((r) => r.instances[0].attributes);
    const [vpc] = byType("aws_vpc");
    expect(vpc.id).toMatch(/^vpc-[0-9a-f]{17}$/);
    expect(vpc.owner_id).toBe(STUB_ACCOUNT_ID);
    for (const subnet of byType("aws_subnet")) expect(subnet.vpc_id).toBe(vpc.id);
    const subnetIds = new Set(byType("aws_subnet").map((s) => s.id));
    const groupIds = new Set(byType("aws_security_group").map((g) => g.id));
    for (const instance of byType("aws_instance")) {
      expect(instance.id).toMatch(/^i-[0-9a-f]{17}$/);
      expect(instance.arn).toBe(`arn:aws:ec2:eu-west-1:${STUB_ACCOUNT_ID}:instance/${instance.id}`);
      expect(subnetIds).toContain(instance.subnet_id);
      for (const group of instance.vpc_security_group_ids as string[]) expect(groupIds).toContain(group);
    }
    expect(Object.values(baseState.outputs.instance_ids.value as Record<string, string>).sort()).toEqual(Object.values(instanceIds(baseState)).sort());
  }, TIMEOUT_MS);
});

test("workers.count 2 -> 3 and a new workers.instanceType: one worker created; the running workers keep their type until rotated", async () => {
  const plan = await plans["workers grown and resized"];
  // instance_type is ignored after creation (a change would stop every worker at once).
  expect(actionsByNode(plan)).toEqual({ "worker-3": "create" });
  expect(plan.resourceChanges.map((c) => `${c.type}:${c.change.actions.join("+")}`).sort()).toEqual(["aws_instance:create", "terraform_data:create"]);
  expect(plan.summary).toEqual({ add: 2, change: 0, destroy: 0, replace: 0 });
  expect(plan.text.replace(/[\s│]+/g, " ")).toContain("worker-1 runs an older configuration than this synth");
  expect(Object.keys(plan.outputChanges).sort()).toEqual(["instance_ids", "private_ips"]);
}, TIMEOUT_MS);

test("controlPlane.count 2 -> 3 in a plain plan is refused by the membership guard (npm run rotate adds members one at a time)", async () => {
  const error = await plans["control plane grown, a worker removed"].then(() => undefined, (caught: unknown) => caught);
  expect(String((error as Error).message).replace(/\s+/g, " ")).toContain(
    "Resource terraform_data.membership_controlPlane_count has lifecycle.prevent_destroy set",
  );
}, TIMEOUT_MS);

test("production: a new maxSize updates the Auto Scaling group in place; desiredCapacity is left to the scaler and the launch template is untouched", async () => {
  const plan = await plans["production group scaled"];
  expect(plan.resourceChanges.map((c) => `${c.type}:${c.change.actions.join("+")}`)).toEqual(["aws_autoscaling_group:update"]);
  const [change] = plan.resourceChanges;
  expect((change.change.before as { max_size: number }).max_size).toBe(9);
  expect(change.change.after as Record<string, unknown>).toMatchObject({ max_size: 12, desired_capacity: 3 });
  expect(plan.summary).toEqual({ add: 0, change: 1, destroy: 0, replace: 0 });
}, TIMEOUT_MS);
