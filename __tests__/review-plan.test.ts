/**
 * The review's Plan section from recorded Terraform output (fixtures/plan, see its README): the
 * counts and replace_paths of `terraform show -json`, the prevent_destroy refusals of a failed
 * plan, how they reach the node table and the quorum-risk section, the "not run" lines, and the
 * comment split with a long Plan section. The real plan runs in integration/review-command.test.ts.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { PlanJson } from "../lib/plan/terraform";
import { STUB_ACCESS_KEY, STUB_SECRET_KEY } from "../lib/plan/terraform";
import { planStacks, redact, StackPlanOutcome } from "../lib/plan/stack-plans";
import { shippedSynthOutdir } from "./support/shipped-synth";
import { diagnosticsOf, digestPlan, formatPath, refusalsOf } from "../lib/plan/summary";
import { compareStacks, StackDiff } from "../lib/review-diff/compare";
import { renderReviewDiffBlocks } from "../lib/review-diff/markdown";
import { withPlan } from "../lib/review-diff/plan";
import type { SynthesizedStack } from "../lib/review-diff/synth-output";

const { COMMENT_LIMIT, splitReview } = require("../scripts/ci/review-comment.js");

const FIXTURES = path.join(__dirname, "fixtures", "plan");
const lbSwitch = JSON.parse(fs.readFileSync(path.join(FIXTURES, "lb-switch.plan.json"), "utf8")) as PlanJson;
const refusedStderr = fs.readFileSync(path.join(FIXTURES, "membership-refused.stderr.txt"), "utf8");
const TOOL = "Terraform 1.11.4 with hashicorp/aws 5.100.0 from the filesystem mirror /opt/tf-plugins";

/** A synthesized five-server stack, reduced to what the comparison and the plan join read. */
function stack(nodes: Record<string, string>, instanceArgs: Record<string, Record<string, unknown>> = {}): SynthesizedStack {
  const suffix: Record<string, string> = { "lb-1": "D0EF9D9B", "worker-3": "CF9F6F01", "control-plane-1": "0A1B2C3D", "control-plane-2": "4E5F6A7B" };
  const aws_instance = Object.fromEntries(
    Object.keys(nodes).map((name) => [
      `cluster_nodes_${name}_${suffix[name] ?? "00000000"}`,
      { "//": { metadata: { path: `five-server/cluster/nodes/${name}` } }, instance_type: "t3.medium", ...instanceArgs[name] },
    ]),
  );
  const terraform_data = Object.fromEntries(Object.keys(nodes).map((name) => [`node_config_${name}`, { input: name }]));
  const topology = { nodes: Object.entries(nodes).map(([name, role]) => ({ name, role })), etcdTopology: "stacked", etcd: { members: 2, failuresTolerated: 0, quorum: 2 } };
  return { name: "five-server", json: { resource: { aws_instance, terraform_data } }, review: new Map([["topology.json", JSON.stringify(topology)]]) };
}

const BASE_NODES = { "lb-1": "load-balancer", "control-plane-1": "control-plane", "control-plane-2": "control-plane", "worker-1": "worker", "worker-2": "worker" };
const base = stack(BASE_NODES, { "lb-1": { user_data_replace_on_change: true } });
const head = stack({ ...BASE_NODES, "worker-3": "worker" }, { "lb-1": { user_data: "nginx", user_data_replace_on_change: true } });
const diff = compareStacks(base, head);
const render = (diffs: StackDiff[], planNotRun?: string) =>
  renderReviewDiffBlocks(diffs, { baseLabel: "base", headLabel: "head", ...(planNotRun ? { planNotRun } : {}) }).join("\n");
const recorded = (address: string) => lbSwitch.resource_changes!.find((change) => change.address.startsWith(address))!;
const planned = (json: PlanJson): StackPlanOutcome => ({ kind: "planned", digest: digestPlan(json), against: "base" });

describe("a recorded plan: load balancer haproxy -> nginx and a third worker", () => {
  test("Terraform's counts, each change with its replace_paths and reason, and the outputs that change", () => {
    const digest = digestPlan(lbSwitch);
    expect(digest.summary).toEqual({ add: 3, change: 0, destroy: 1, replace: 1 });
    expect(digest.changes).toEqual([
      { address: "aws_instance.cluster_nodes_lb-1_D0EF9D9B", type: "aws_instance", action: "replace", replacePaths: ["user_data"], reason: "replace_because_cannot_update" },
      { address: "aws_instance.cluster_nodes_worker-3_CF9F6F01", type: "aws_instance", action: "create", replacePaths: [] },
      { address: "terraform_data.node_config_worker-3", type: "terraform_data", action: "create", replacePaths: [] },
    ]);
    expect(digest.outputs).toEqual(["instance_ids", "load_balancer_instance_id", "private_ips"]);
  });

  test("the Plan section: counts, the replaced node with replace_paths, how it was planned (snapshot)", () => {
    const report = withPlan(diff, planned(lbSwitch), { base, head, tool: TOOL });
    const markdown = render([report]);
    expect(markdown).toMatchSnapshot();
    expect(markdown).toContain("**3 to add, 0 to change, 1 to destroy** (1 replaced): `terraform plan` of the head against a synthetic state of the base.");
    expect(markdown).toContain("| `aws_instance.cluster_nodes_lb-1_D0EF9D9B` | lb-1 | replace | replace_paths: `user_data`; replace_because_cannot_update |");
    expect(markdown).toContain("| `terraform_data.node_config_worker-3` | worker-3 | create | - |");
    expect(markdown).toContain(`Planned offline by ${TOOL}`);
    // The node table carries the provider's reason; a replaced load balancer is no quorum risk.
    expect(report.nodes.find((node) => node.name === "lb-1")?.reasons).toContain("plan: replace (replace_paths: `user_data`; replace_because_cannot_update)");
    expect(report.quorumRisks).toEqual([]);
    // The Plan section comes right after the quorum risk, before the node table.
    expect(markdown.indexOf("### Quorum risk")).toBeLessThan(markdown.indexOf("### Plan"));
    expect(markdown.indexOf("### Plan")).toBeLessThan(markdown.indexOf("### Nodes"));
  });

  test("a forced replacement of etcd members (a copy of the recording with both control-plane nodes replaced) is a quorum risk", () => {
    const replaced = (address: string) => ({ ...recorded("aws_instance.cluster_nodes_lb-1"), address, name: address.split(".")[1] });
    const json = { ...lbSwitch, resource_changes: [replaced("aws_instance.cluster_nodes_control-plane-1_0A1B2C3D"), replaced("aws_instance.cluster_nodes_control-plane-2_4E5F6A7B")] };
    const report = withPlan(diff, planned(json), { base, head, tool: TOOL });
    expect(report.quorumRisks).toEqual([
      "plan: Terraform takes down 2 etcd members in one apply: control-plane-1 (replaced, replace_paths: `user_data`; replace_because_cannot_update), control-plane-2 (replaced, replace_paths: `user_data`; replace_because_cannot_update); the members tolerate 0 failures: **quorum is lost**",
    ]);
    expect(render([report])).toMatch(/\*\*Quorum risk in `five-server`: read before applying\.\*\*/);
  });

  test("attribute paths read as in the configuration", () => {
    expect(formatPath(["user_data"])).toBe("user_data");
    expect(formatPath(["root_block_device", 0, "volume_size"])).toBe("root_block_device[0].volume_size");
    expect(formatPath(["tags", "kubernetes.io/cluster"])).toBe('tags["kubernetes.io/cluster"]');
  });
});

describe("a recorded refusal: controlPlane.count 2 -> 3 in a plain plan", () => {
  test("the prevent_destroy error names the guard; the quoted source line is left out", () => {
    const diagnostics = diagnosticsOf(refusedStderr);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0].summary).toBe("Instance cannot be destroyed");
    expect(diagnostics[0].detail).toMatch(/^Resource terraform_data\.membership_controlPlane_count has lifecycle\.prevent_destroy set, but the plan calls for this resource to be destroyed\./);
    expect(diagnostics[0].detail).not.toMatch(/cdk\.tf\.json|2803/);
    expect(refusalsOf(diagnostics).map((refusal) => refusal.address)).toEqual(["terraform_data.membership_controlPlane_count"]);
  });

  test("boxed diagnostics (Terraform's default framing) read the same, one refusal per resource", () => {
    const boxed = (text: string) => ["╷", ...text.trim().split("\n").map((line) => `│ ${line}`), "╵"].join("\n");
    const twice = `${boxed(refusedStderr)}\n${boxed(refusedStderr)}\n${boxed(refusedStderr.replace(/membership_controlPlane_count/g, "immutable_cni_plugin"))}`;
    const diagnostics = diagnosticsOf(twice);
    expect(diagnostics.map((d) => d.summary)).toEqual(["Instance cannot be destroyed", "Instance cannot be destroyed", "Instance cannot be destroyed"]);
    expect(diagnostics[0]).toEqual(diagnosticsOf(refusedStderr)[0]);
    expect(refusalsOf(diagnostics).map((refusal) => refusal.address)).toEqual(["terraform_data.membership_controlPlane_count", "terraform_data.immutable_cni_plugin"]);
  });

  test("the Plan section says refused with Terraform's message, and the quorum-risk section says so too", () => {
    const refusals = refusalsOf(diagnosticsOf(refusedStderr));
    const report = withPlan(diff, { kind: "refused", refusals, otherErrors: [] }, { base, head, tool: TOOL });
    const markdown = render([report]);
    expect(markdown).toContain("**Refused:** `terraform plan` of the head against a synthetic state of the base stops with an error");
    expect(markdown).toContain(
      "- refused: `terraform_data.membership_controlPlane_count`: Instance cannot be destroyed: Resource terraform_data.membership_controlPlane_count has lifecycle.prevent_destroy set",
    );
    expect(report.quorumRisks).toEqual([expect.stringMatching(/^plan: refused by the day-2 guards \(prevent_destroy on `terraform_data\.membership_controlPlane_count`\)/)]);
  });
});

describe("no plan", () => {
  test("no Terraform: one line under the title, everything else as before", () => {
    const markdown = render([diff], "terraform is not on PATH (install Terraform >= 1.10, or set KUBEADM_HA_TERRAFORM)");
    expect(markdown).toContain("\nplan: not run: terraform is not on PATH (install Terraform >= 1.10, or set KUBEADM_HA_TERRAFORM)\n");
    expect(markdown).not.toContain("### Plan");
    expect(markdown.replace(/\nplan: not run: .*\n\n/, "\n")).toBe(render([diff]));
  });

  test("per stack: not run (the time budget), failed, identical configuration", () => {
    const section = (outcome: StackPlanOutcome) => render([withPlan(diff, outcome, { base, head })]).split("### Plan\n\n")[1].split("\n")[0];
    expect(section({ kind: "not-run", reason: "the plan time budget (600 s) ran out" })).toBe("plan: not run: the plan time budget (600 s) ran out");
    expect(section({ kind: "failed", message: "terraform plan: Unsupported operation" })).toBe("plan: failed: terraform plan: Unsupported operation");
    expect(section({ kind: "identical" })).toBe("No changes: the stack's Terraform configuration is identical to the base's.");
  });

  test("the stub's fake keys never reach a report", () => {
    const text = redact(`access_key = "${STUB_ACCESS_KEY}" secret_key = "${STUB_SECRET_KEY}"`);
    expect(text).toBe('access_key = "(redacted)" secret_key = "(redacted)"');
  });
});

test("a long Plan section still splits under 65,536 characters per comment, rows whole", () => {
  const workers = Array.from({ length: 1500 }, (_, i) => `worker-${i + 4}`);
  const changes = workers.map((name) => ({ ...recorded("aws_instance.cluster_nodes_worker-3"), address: `aws_instance.cluster_nodes_${name}_00000000`, name: `cluster_nodes_${name}_00000000` }));
  const wide = stack({ ...BASE_NODES, ...Object.fromEntries(workers.map((name) => [name, "worker"])) });
  const report = withPlan(compareStacks(base, wide), planned({ ...lbSwitch, resource_changes: [recorded("aws_instance.cluster_nodes_lb-1"), ...changes] }), { base, head: wide, tool: TOOL });
  const markdown = render([report]);
  expect(markdown.length).toBeGreaterThan(2 * COMMENT_LIMIT);
  const parts: string[] = splitReview(markdown);
  expect(parts.length).toBeGreaterThan(2);
  for (const part of parts) expect(part.length).toBeLessThanOrEqual(COMMENT_LIMIT);
  expect(parts[0]).toContain("### Plan");
  // The replaced load balancer stays in view; the 1,500 creates fold.
  expect(parts[0]).toMatch(/### Plan\n\n.*\n\n\| resource \| node \| action \| why \|\n\| --- \| --- \| --- \| --- \|\n\| `aws_instance\.cluster_nodes_lb-1_D0EF9D9B` \| lb-1 \| replace \|.*\n\n<details><summary>1500 resource\(s\) created or updated in place<\/summary>\n\n\| resource/);
  const rows = parts.flatMap((part) => part.split("\n").filter((line) => line.startsWith("| `aws_instance.cluster_nodes_worker-")));
  expect(rows).toHaveLength(1500);
  for (const row of rows) expect(row).toMatch(/^\| `aws_instance\.cluster_nodes_worker-\d+_00000000` \| worker-\d+ \| create \| - \|$/);
});

test("planStacks asks Terraform its version once: the plan harness reuses what the lookup found", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-terraform-"));
  const calls = path.join(dir, "calls");
  const fake = path.join(dir, "terraform");
  // Answers `version -json`; every other command fails, so the plan stops at init.
  fs.writeFileSync(fake, `#!/usr/bin/env bash\necho "$*" >>"${calls}"\n[[ $1 == version ]] && { echo '{"terraform_version":"1.11.0"}'; exit 0; }\necho "fake terraform: $*" >&2\nexit 1\n`, { mode: 0o755 });
  const previous = process.env.KUBEADM_HA_TERRAFORM;
  process.env.KUBEADM_HA_TERRAFORM = fake;
  try {
    const headDir = path.join(shippedSynthOutdir(), "stacks", "five-server");
    const plans = await planStacks([{ stack: "five-server", headDir }], { budgetMs: 60_000 });
    expect(plans.notRun).toMatch(/^terraform init could not install the provider: fake terraform: init /);
    const lines = fs.readFileSync(calls, "utf8").split("\n").filter(Boolean);
    expect(lines.filter((line) => line.startsWith("version"))).toEqual(["version -json"]);
    expect(lines.some((line) => line.startsWith("init"))).toBe(true);
  } finally {
    if (previous === undefined) delete process.env.KUBEADM_HA_TERRAFORM;
    else process.env.KUBEADM_HA_TERRAFORM = previous;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
