/**
 * The HCL exit ramp: `npx cdktf synth --hcl` output plans exactly like the JSON stacks with real
 * Terraform (every planned value, user data included), and planning the HCL stack against a
 * synthetic state of the JSON stack's plan changes nothing: a team can switch to plain HCL without
 * replacing or restarting a single resource.
 */
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT, SHIPPED_CLUSTERS, shippedTopology } from "../support/specs";
import { App, TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { Instance } from "@cdktf/provider-aws/lib/instance";
import { multiLineTextForSynth } from "../../lib/constructs/hcl-output";
import { escapeTerraformTemplate, unescapeTerraformTemplate } from "../../lib/terraform-escape";
import { StackPlan, startTerraform, TerraformHarness } from "../../lib/plan/terraform";
import { DayTwoPlan, planAgainstBase } from "../../lib/plan/synthetic-state";

const TIMEOUT_MS = 900_000;

let tf: TerraformHarness;
let work: string;
const plans = new Map<string, Promise<StackPlan>>();
let switchPlan: Promise<DayTwoPlan>;
let edgeCasePlan: Promise<StackPlan>;

/** Texts a heredoc cannot carry literally; each must reach Terraform unchanged. */
const EDGE_CASES: Record<string, string> = {
  "shell-heredocs": "#!/bin/bash\ncat <<'EOF'\nusage: x ${HOME}\n  EOF\ncat <<EOF >f\n%{not a directive}\nEOF\n",
  "crlf-no-final-newline": "line one\r\nline two",
  "blank-lines-at-the-end": "#cloud-config\nruncmd: []\n\n\n",
};

const sha1 = (text: string) => createHash("sha1").update(text, "utf8").digest("hex");
const stackDir = (format: "json" | "hcl", stack: string) => path.join(work, format, "stacks", stack);

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "hcl-"));
  const env = { ...process.env, CHECKPOINT_DISABLE: "1" };
  const json = spawnSync("npm", ["run", "--silent", "synth"], { cwd: REPO_ROOT, env: { ...env, CDKTF_OUTDIR: path.join(work, "json") }, encoding: "utf8" });
  if (json.status !== 0) throw new Error(`npm run synth failed:\n${json.stderr}`);
  const hcl = spawnSync("npx", ["cdktf", "synth", "--hcl", "--output", path.join(work, "hcl")], { cwd: REPO_ROOT, env, encoding: "utf8" });
  if (hcl.status !== 0) throw new Error(`cdktf synth --hcl failed:\n${hcl.stdout}\n${hcl.stderr}`);

  tf = await startTerraform();
  for (const stack of SHIPPED_CLUSTERS) {
    for (const format of ["json", "hcl"] as const) {
      const plan = tf.planStack(stackDir(format, stack), { label: `${stack}-${format}` });
      plan.catch(() => undefined);
      plans.set(`${stack}/${format}`, plan);
    }
  }
  edgeCasePlan = tf.planStack(edgeCaseStack(), { label: "edge-cases" });
  edgeCasePlan.catch(() => undefined);
  switchPlan = planAgainstBase(stackDir("json", "five-server"), stackDir("hcl", "five-server"), { harness: tf });
  switchPlan.catch(() => undefined);
}, TIMEOUT_MS);

/** A one-provider stack with an instance per edge case, synthesized as HCL in this process. */
function edgeCaseStack(): string {
  const outdir = path.join(work, "edge-cases");
  // What `cdktf synth --hcl` sets: stacks read it to pick their synthesizer.
  const previous = process.env.SYNTH_HCL_OUTPUT;
  process.env.SYNTH_HCL_OUTPUT = "true";
  try {
    const app = new App({ outdir });
    const stack = new TerraformStack(app, "edge-cases");
    new AwsProvider(stack, "aws", { region: "eu-west-1" });
    for (const [name, text] of Object.entries(EDGE_CASES)) {
      new Instance(stack, name, { ami: "ami-0123456789abcdef0", instanceType: "t3.small", userData: multiLineTextForSynth(stack, escapeTerraformTemplate(text)) });
    }
    app.synth();
  } finally {
    if (previous === undefined) delete process.env.SYNTH_HCL_OUTPUT;
    else process.env.SYNTH_HCL_OUTPUT = previous;
  }
  return path.join(outdir, "stacks", "edge-cases");
}

afterAll(async () => {
  await tf?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe.each(SHIPPED_CLUSTERS)("%s", (stack) => {
  test("the HCL stack is plain HCL, with each user data as a heredoc", () => {
    const files = fs.readdirSync(stackDir("hcl", stack));
    expect(files).toContain("cdk.tf");
    expect(files).not.toContain("cdk.tf.json");
    const hcl = fs.readFileSync(path.join(stackDir("hcl", stack), "cdk.tf"), "utf8");
    // Static workers send plain text. Without them (production: its workers are an Auto Scaling
    // group, whose launch template takes base64) every instance may be gzipped whole.
    if (shippedTopology(stack).workers.length > 0) expect(hcl).toMatch(/user_data\s+= <<EOF\n#cloud-config\n/);
    else expect(hcl).toMatch(/user_data_base64\s+= "H4sI/);
  });

  test("JSON and HCL plan the same resources with the same values, user data included", async () => {
    const [json, hcl] = await Promise.all([plans.get(`${stack}/json`)!, plans.get(`${stack}/hcl`)!]);
    const byAddress = (plan: StackPlan) => Object.fromEntries(plan.json.planned_values.root_module.resources!.map((r) => [r.address, r.values]));
    const jsonValues = byAddress(json);
    const hclValues = byAddress(hcl);
    expect(Object.keys(hclValues).sort()).toEqual(Object.keys(jsonValues).sort());
    for (const address of Object.keys(jsonValues)) expect([address, hclValues[address]]).toEqual([address, jsonValues[address]]);
    // The provider plans user_data as the SHA-1 of the text: equal hashes are equal texts, and
    // they are the hashes of the JSON's text exactly (one final newline, not two).
    const stackJson = JSON.parse(fs.readFileSync(path.join(stackDir("json", stack), "cdk.tf.json"), "utf8"));
    const instances = Object.keys(stackJson.resource.aws_instance);
    expect(instances.length).toBeGreaterThan(0);
    const plainText = instances.filter((name) => stackJson.resource.aws_instance[name].user_data !== undefined);
    if (shippedTopology(stack).workers.length > 0) expect(plainText.length).toBeGreaterThan(0);
    // A node sent gzipped whole carries base64 in user_data_base64, compared with the other values above.
    for (const name of plainText) {
      const text = unescapeTerraformTemplate(stackJson.resource.aws_instance[name].user_data);
      expect(text).toMatch(/[^\n]\n$/);
      expect(hclValues[`aws_instance.${name}`].user_data).toBe(sha1(text));
    }
    expect(hcl.json.planned_values.outputs).toEqual(json.json.planned_values.outputs);
    expect(hcl.text.match(/Plan: .*/)?.[0]).toBe(json.text.match(/Plan: .*/)?.[0]);
  }, TIMEOUT_MS);
});

test("switching five-server from JSON to HCL plans No changes against the JSON stack's state", async () => {
  const plan = await switchPlan;
  expect(plan.resourceChanges).toEqual([]);
  expect(plan.outputChanges).toEqual({});
  expect(plan.text).toContain("No changes.");
}, TIMEOUT_MS);

test("text a heredoc cannot carry literally (EOF lines, CRs, no final newline) reaches Terraform unchanged from HCL", async () => {
  const plan = await edgeCasePlan;
  expect(fs.readFileSync(path.join(plan.dir, "cdk.tf"), "utf8")).toContain('${"EOF"}');
  const userData = Object.fromEntries(plan.json.planned_values.root_module.resources!.map((r) => [r.name, r.values.user_data]));
  expect(userData).toEqual(Object.fromEntries(Object.entries(EDGE_CASES).map(([name, text]) => [name, sha1(text)])));
}, TIMEOUT_MS);
