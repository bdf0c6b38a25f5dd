/**
 * The pull-request review diff: committed spec pairs (fixtures/review-diff/{base,head}), each
 * synthesized by the current code and compared; the Markdown is snapshot-tested, and the facts a
 * reviewer relies on (quorum risk, rotation-only changes, rule changes) are asserted directly.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { synthesizeClusters } from "../lib/app";
import { compareStacks, StackDiff } from "../lib/review-diff/compare";
import { unifiedDiff } from "../lib/review-diff/line-diff";
import { renderReviewDiffBlocks } from "../lib/review-diff/markdown";
import { readSynthOutput } from "../lib/review-diff/synth-output";

const FIXTURES = path.join(__dirname, "fixtures", "review-diff");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "review-diff-"));
let diffs: Map<string, StackDiff>;

beforeAll(() => {
  for (const side of ["base", "head"]) synthesizeClusters({ clustersDir: path.join(FIXTURES, side), outdir: path.join(work, side) });
  const base = readSynthOutput(path.join(work, "base"));
  const head = readSynthOutput(path.join(work, "head"));
  const names = [...new Set([...base.keys(), ...head.keys()])].sort();
  diffs = new Map(names.map((name) => [name, compareStacks(base.get(name), head.get(name))]));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const diffOf = (stack: string): StackDiff => {
  const diff = diffs.get(stack);
  if (!diff) throw new Error(`no stack ${stack}`);
  return diff;
};
const change = (stack: string, node: string) => diffOf(stack).nodes.find((candidate) => candidate.name === node)?.change;

test("the whole review diff of the fixture pairs (snapshot)", () => {
  const blocks = renderReviewDiffBlocks([...diffs.values()], { baseLabel: "base", headLabel: "head" });
  expect(blocks.join("\n")).toMatchSnapshot();
});

test("stacks only on one side are added or removed", () => {
  expect(diffOf("brand-new").status).toBe("added");
  expect(diffOf("retired").status).toBe("removed");
  expect(diffOf("retired").quorumRisks).toEqual([]);
  expect(diffOf("retired").disruptions.join("\n")).toMatch(/no apply touches it/);
});

test("adding a worker adds one node and nothing else is replaced or at risk", () => {
  const diff = diffOf("workers-scale");
  expect(diff.nodes.filter((node) => node.change !== "unchanged").map((node) => [node.name, node.change])).toEqual([["worker-3", "added"]]);
  expect(diff.quorumRisks).toEqual([]);
});

test("an instance-type change stops nothing: instance_type is ignored, every control-plane node waits for rotation", () => {
  const diff = diffOf("instance-type");
  for (const node of ["control-plane-1", "control-plane-2", "control-plane-3"]) expect(change("instance-type", node)).toBe("rotation");
  expect(diff.quorumRisks).toEqual([]);
});

test("shrinking external etcd from 3 to 1 removes two members at once: quorum risk", () => {
  const diff = diffOf("shrink-etcd");
  expect(change("shrink-etcd", "etcd-2")).toBe("removed");
  expect(change("shrink-etcd", "etcd-3")).toBe("removed");
  expect(diff.quorumRisks.join("\n")).toMatch(/takes down 2 of 3 members/);
  expect(diff.quorumRisks.join("\n")).toMatch(/from 3 to 1 members.*loses quorum/);
});

test("a load-balancer kind switch replaces the load balancer and changes the warnings", () => {
  const diff = diffOf("lb-kind");
  expect(change("lb-kind", "lb-1")).toBe("replaced");
  expect(diff.disruptions.join("\n")).toMatch(/lb-1 is replaced: the API endpoint is down until/);
  expect(diff.warnings.added.join("\n")).toMatch(/NGINX/);
  expect(diff.fileDiffs.map((file) => file.file)).toEqual(expect.arrayContaining(["haproxy.cfg", "nginx.conf"]));
});

test("a Kubernetes version bump reaches running nodes only through rotation", () => {
  const diff = diffOf("version-bump");
  const touched = diff.nodes.filter((node) => node.change !== "unchanged");
  expect(touched.length).toBeGreaterThan(0);
  for (const node of touched) expect(node.change).toBe("rotation");
  expect(diff.quorumRisks).toEqual([]);
  const env = diff.fileDiffs.find((file) => file.file === "cluster.env" && file.nodes.includes("worker-1"));
  expect(env?.nodes).toEqual(["control-plane-1", "control-plane-2", "control-plane-3", "worker-1", "worker-2"]);
  expect(env?.diff).toContain("+KUBERNETES_VERSION='1.35.0'");
});

test("a version bump reaches the Auto Scaling group's new instances only, through a new launch template version", () => {
  const diff = diffOf("asg-bump");
  const group = diff.nodes.find((node) => node.name === "worker-asg")!;
  expect(group).toMatchObject({ role: "worker", change: "updated" });
  expect(group.reasons).toContain("cluster.env changed");
  expect(group.reasons.join("\n")).toMatch(/a new launch template version: instances the group launches from now on boot it; running instances keep theirs until an instance refresh/);
  expect(diff.resources.changed.some((address) => address.startsWith("aws_launch_template."))).toBe(true);
  expect(diff.fileDiffs.find((file) => file.file === "cluster.env" && file.nodes.includes("worker-asg"))?.diff).toContain("+KUBERNETES_VERSION='1.35.0'");
  expect(diff.quorumRisks).toEqual([]);
});

test("a CNI switch shows the security-group rules it adds and removes", () => {
  const { rules } = diffOf("cni-switch");
  expect(rules.added).toContain("ingress worker <- worker 8472/udp");
  expect(rules.removed).toContain("ingress worker <- worker 4789/udp");
});

test("a change only to a policy document (a data source) makes the stack changed, so the review shows and plans it", () => {
  const base = readSynthOutput(path.join(work, "base"));
  const stack = [...base.values()][0];
  const json = JSON.parse(JSON.stringify(stack.json));
  const documents = json.data.aws_iam_policy_document as Record<string, { statement: { actions?: string[] }[] }>;
  const [name, document] = Object.entries(documents)[0];
  document.statement[0].actions = [...(document.statement[0].actions ?? []), "ec2:DescribeInstances"];
  const diff = compareStacks(stack, { ...stack, json });
  expect(diff.status).toBe("changed");
  expect(diff.resources.changed).toEqual([`data.aws_iam_policy_document.${name}`]);
  expect(compareStacks(stack, stack).status).toBe("unchanged");
});

test("a resource whose depends_on alone changed is not listed as changed (the boot-prerequisites barrier when a rule comes or goes)", () => {
  const base = readSynthOutput(path.join(work, "base"));
  const stack = [...base.values()][0];
  const json = JSON.parse(JSON.stringify(stack.json));
  const barriers = json.resource.terraform_data as Record<string, { depends_on?: string[] }>;
  const [name, barrier] = Object.entries(barriers).find(([key]) => key.includes("boot-prerequisites"))!;
  barrier.depends_on = barrier.depends_on!.slice(1);
  expect(compareStacks(stack, { ...stack, json }).resources.changed).toEqual([]);
  // Control: any other argument of the same resource is a change.
  (barrier as Record<string, unknown>).input = "x";
  expect(compareStacks(stack, { ...stack, json }).resources.changed).toEqual([`terraform_data.${name}`]);
});

test("unified diff: deletions before insertions, with line numbers and context", () => {
  const before = ["a", "b", "c", "d", "e", "f", "g", "h"].join("\n") + "\n";
  const after = ["a", "b", "c", "D", "e", "f", "g", "h", "i"].join("\n") + "\n";
  expect(unifiedDiff(before, after, "base/x", "head/x")).toBe(
    ["--- base/x", "+++ head/x", "@@ -1,8 +1,9 @@", " a", " b", " c", "-d", "+D", " e", " f", " g", " h", "+i"].join("\n"),
  );
  expect(unifiedDiff("same\n", "same\n", "a", "b")).toBe("");
});
