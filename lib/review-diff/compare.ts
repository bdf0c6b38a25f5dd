/**
 * What changes between two synthesized versions of a stack, in the terms a reviewer asks about:
 * which nodes are added, removed, replaced, stopped or changed in place, which changes reach the
 * nodes only through rotation, whether one apply would take down more etcd members or API servers
 * than the cluster tolerates, and how the rules, the failure table and the warnings move.
 * Pure: reads only the two synthesized stacks (lib/review-diff/synth-output.ts).
 */
import { describeRule, securityRulesOf, StackJson } from "../security-rules";
import type { SynthesizedStack } from "./synth-output";
import { unifiedDiff } from "./line-diff";
import type { PlanReport } from "./plan-report";

export type NodeChangeKind = "added" | "removed" | "replaced" | "stopped" | "updated" | "rotation" | "unchanged";

export interface NodeChange {
  readonly name: string;
  readonly role: string;
  readonly change: NodeChangeKind;
  readonly reasons: readonly string[];
}

export interface FileDiff {
  /** The file's name on the node (its review name). */
  readonly file: string;
  /** Nodes whose diff of the file changes the same lines; `diff` is the first node's. */
  readonly nodes: readonly string[];
  readonly diff: string;
  readonly added: number;
  readonly removed: number;
}

export interface FailureRow {
  readonly failure: string;
  readonly before?: boolean;
  readonly after?: boolean;
  readonly why: string;
}

export interface ResourceChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

export interface StackDiff {
  readonly stack: string;
  readonly status: "added" | "removed" | "changed" | "unchanged";
  readonly nodes: readonly NodeChange[];
  /** Changes one apply makes that lose etcd quorum or every API server: the reviewer must stop here. */
  readonly quorumRisks: readonly string[];
  /** Disruptions the cluster survives but a reviewer should know about. */
  readonly disruptions: readonly string[];
  readonly fileDiffs: readonly FileDiff[];
  readonly rules: { readonly added: readonly string[]; readonly removed: readonly string[] };
  readonly failures: readonly FailureRow[];
  readonly warnings: { readonly added: readonly string[]; readonly removed: readonly string[] };
  /** Resources other than the nodes' instances, by Terraform address. */
  readonly resources: ResourceChanges;
  /** Terraform's own plan of the head against the base, where one ran (lib/review-diff/plan.ts). */
  readonly plan?: PlanReport;
}

interface TopologyNode {
  readonly name: string;
  readonly role: string;
}

export interface TopologySummary {
  readonly nodes: readonly TopologyNode[];
  /** workers.autoScaling: the group's launch template is a node of the review with no instance. */
  readonly workerAutoScaling?: { readonly name: string };
  readonly etcdTopology?: string;
  readonly etcd?: { readonly members: number; readonly failuresTolerated: number; readonly quorum: number };
  readonly warnings?: readonly string[];
}

type Resource = Record<string, unknown>;

/**
 * aws_instance arguments whose change makes Terraform destroy and re-create the instance (the
 * provider's ForceNew arguments that the blueprint sets or could set).
 */
const REPLACING_ARGUMENTS = new Set([
  "ami",
  "availability_zone",
  "subnet_id",
  "private_ip",
  "placement_group",
  "tenancy",
  "host_id",
  "key_name",
  "cpu_options",
  "ebs_block_device",
  "ephemeral_block_device",
  "network_interface",
  "launch_template",
  "hibernation",
  "enclave_options",
]);
/** Changed in place, but only with the instance stopped. */
const STOPPING_ARGUMENTS = new Set(["instance_type", "user_data", "user_data_base64"]);
const IGNORED_IN_COMPARISON = new Set(["//", "depends_on"]);
const USER_DATA_FILE = "user-data.yaml";

export function compareStacks(base: SynthesizedStack | undefined, head: SynthesizedStack | undefined): StackDiff {
  const stack = (head ?? base)?.name;
  if (!stack) throw new Error("compareStacks: neither side has a stack");
  const baseTopology = topologyOf(base);
  const headTopology = topologyOf(head);
  const nodes = compareNodes(base, head, baseTopology, headTopology);
  // A stack whose spec is gone is no longer synthesized: no apply touches it (its state stays).
  const risks = head
    ? assessRisks(nodes, baseTopology, headTopology)
    : { quorumRisks: [], disruptions: [`its spec is gone, so no apply touches it; its resources stay until \`cdktf destroy ${stack}\``] };
  const fileDiffs = compareFiles(base, head);
  const rules = compareRules(base?.json, head?.json);
  const failures = compareFailureTables(base?.review.get("REVIEW.md"), head?.review.get("REVIEW.md"));
  const warnings = compareLists(baseTopology?.warnings ?? [], headTopology?.warnings ?? []);
  const resources = compareResources(base?.json, head?.json);
  const changed =
    nodes.some((node) => node.change !== "unchanged") ||
    fileDiffs.length > 0 ||
    rules.added.length + rules.removed.length > 0 ||
    resources.added.length + resources.removed.length + resources.changed.length > 0 ||
    warnings.added.length + warnings.removed.length > 0;
  return {
    stack,
    status: !base ? "added" : !head ? "removed" : changed ? "changed" : "unchanged",
    nodes,
    ...risks,
    fileDiffs,
    rules,
    failures,
    warnings,
    resources,
  };
}

/** The role whose nodes hold the etcd members: etcd nodes when external, else the control plane. */
export function etcdMemberRole(topology: TopologySummary): "etcd" | "control-plane" {
  return topology.etcdTopology === "external" ? "etcd" : "control-plane";
}

export function topologyOf(stack: SynthesizedStack | undefined): TopologySummary | undefined {
  const text = stack?.review.get("topology.json");
  return text ? (JSON.parse(text) as TopologySummary) : undefined;
}

/** Instances by node name: the last segment of the construct path (the constructs' contract). */
function instancesOf(json: StackJson | undefined): Map<string, Resource> {
  const instances = new Map<string, Resource>();
  for (const [address, resource] of Object.entries(json?.resource?.aws_instance ?? {})) {
    const path = resource["//"]?.metadata?.path;
    instances.set(path ? path.split("/").pop() ?? address : address, resource);
  }
  return instances;
}

function compareNodes(
  base: SynthesizedStack | undefined,
  head: SynthesizedStack | undefined,
  baseTopology: TopologySummary | undefined,
  headTopology: TopologySummary | undefined,
): NodeChange[] {
  const baseInstances = instancesOf(base?.json);
  const headInstances = instancesOf(head?.json);
  const roles = new Map<string, string>();
  const groups = [baseTopology, headTopology].flatMap((topology) => (topology?.workerAutoScaling ? [{ name: topology.workerAutoScaling.name, role: "worker" }] : []));
  for (const node of [...(baseTopology?.nodes ?? []), ...(headTopology?.nodes ?? []), ...groups]) roles.set(node.name, node.role);
  const order = [...new Set([...(headTopology?.nodes ?? []), ...(baseTopology?.nodes ?? []), ...groups].map((node) => node.name))];
  for (const name of [...baseInstances.keys(), ...headInstances.keys()]) if (!order.includes(name)) order.push(name);

  return order.map((name) => {
    const role = roles.get(name) ?? "unknown";
    const before = baseInstances.get(name);
    const after = headInstances.get(name);
    const filesChanged = nodeFilesChanged(base, head, name);
    if (!before && !after) {
      // A node without an instance of its own (an Auto Scaling group's workers): only its files tell.
      // Terraform updates the launch template in place; its instances boot what they launched with.
      const group = groups.some((candidate) => candidate.name === name);
      const reasons = filesChanged.length === 0 ? [] : [
        ...filesChanged.map((file) => `${file} changed`),
        ...(group ? ["a new launch template version: instances the group launches from now on boot it; running instances keep theirs until an instance refresh replaces them"] : []),
      ];
      return { name, role, change: filesChanged.length > 0 ? "updated" : "unchanged", reasons };
    }
    if (!before) return { name, role, change: "added", reasons: ["Terraform creates the instance"] };
    if (!after) return { name, role, change: "removed", reasons: ["Terraform destroys the instance"] };
    return instanceChange(name, role, before, after, filesChanged);
  });
}

function instanceChange(name: string, role: string, before: Resource, after: Resource, filesChanged: readonly string[]): NodeChange {
  const ignored = new Set(ignoredArguments(after));
  const changedArguments = [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((key) => !IGNORED_IN_COMPARISON.has(key))
    .filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]))
    .sort();
  const applied = changedArguments.filter((key) => !ignored.has(key) && key !== "lifecycle");
  const notApplied = changedArguments.filter((key) => ignored.has(key));
  const replaceOnUserData = after.user_data_replace_on_change === true;
  const replacing = applied.filter((key) => REPLACING_ARGUMENTS.has(key) || (replaceOnUserData && key.startsWith("user_data")));
  const stopping = applied.filter((key) => STOPPING_ARGUMENTS.has(key) && !replacing.includes(key));
  const inPlace = applied.filter((key) => !replacing.includes(key) && !stopping.includes(key));
  const rotationOnly = notApplied.length > 0 || (filesChanged.length > 0 && ignored.has("user_data"));

  const reasons: string[] = [];
  if (replacing.length > 0) reasons.push(`replaced: ${replacing.join(", ")} changed`);
  if (stopping.length > 0) reasons.push(`stopped and started: ${stopping.join(", ")} changed`);
  if (inPlace.length > 0) reasons.push(`in place: ${inPlace.join(", ")}`);
  if (rotationOnly) {
    const ignoredNow = notApplied.length > 0 ? notApplied : ["user_data"];
    const what = [...notApplied.filter((key) => !key.startsWith("user_data")), ...filesChanged];
    reasons.push(
      `not applied by Terraform (${ignoredNow.join(", ")} ignored on a running node): the change to ${what.join(", ") || "its user data"} reaches the node only through rotation`,
    );
  }
  const change: NodeChangeKind =
    replacing.length > 0 ? "replaced" : stopping.length > 0 ? "stopped" : inPlace.length > 0 ? "updated" : rotationOnly ? "rotation" : "unchanged";
  return { name, role, change, reasons };
}

function ignoredArguments(resource: Resource): string[] {
  const lifecycle = resource.lifecycle as { ignore_changes?: unknown } | undefined;
  return Array.isArray(lifecycle?.ignore_changes) ? (lifecycle?.ignore_changes as string[]) : [];
}

function nodeFilesChanged(base: SynthesizedStack | undefined, head: SynthesizedStack | undefined, node: string): string[] {
  const prefix = `files/${node}/`;
  const files = new Set<string>();
  for (const side of [base, head]) {
    for (const key of side?.review.keys() ?? []) if (key.startsWith(prefix) && !key.endsWith(`/${USER_DATA_FILE}`)) files.add(key);
  }
  return [...files]
    .filter((key) => base?.review.get(key) !== head?.review.get(key))
    .map((key) => key.slice(prefix.length))
    .sort();
}

/** etcd members and API servers one apply takes down at once, against what the base tolerates. */
function assessRisks(
  nodes: readonly NodeChange[],
  base: TopologySummary | undefined,
  head: TopologySummary | undefined,
): { quorumRisks: string[]; disruptions: string[] } {
  const quorumRisks: string[] = [];
  const disruptions: string[] = [];
  if (!base) return { quorumRisks, disruptions };
  const down = (change: NodeChangeKind) => change === "removed" || change === "replaced" || change === "stopped";
  const memberRole = etcdMemberRole(base);
  const members = base.nodes.filter((node) => node.role === memberRole).map((node) => node.name);
  const tolerated = base.etcd?.failuresTolerated ?? 0;
  const membersDown = nodes.filter((node) => members.includes(node.name) && down(node.change));
  if (membersDown.length > 0) {
    const list = membersDown.map((node) => `${node.name} (${node.change})`).join(", ");
    const line = `etcd: this apply takes down ${membersDown.length} of ${members.length} members at once: ${list}; ${members.length} members tolerate ${tolerated} failure${tolerated === 1 ? "" : "s"}`;
    if (membersDown.length > tolerated) quorumRisks.push(`${line}: **quorum is lost**`);
    else disruptions.push(`${line}; no member is removed from etcd first: use \`npm run rotate\`, which removes the member before the instance goes`);
  }
  const apiServers = base.nodes.filter((node) => node.role === "control-plane").map((node) => node.name);
  const apiDown = nodes.filter((node) => apiServers.includes(node.name) && down(node.change));
  if (apiServers.length > 0 && apiDown.length === apiServers.length) {
    quorumRisks.push(`API: every API server (${apiDown.map((node) => node.name).join(", ")}) goes down in the same apply: the API is unreachable`);
  }
  const headMembers = head?.etcd?.members;
  if (headMembers !== undefined && base.etcd && headMembers !== base.etcd.members) {
    const line = `etcd membership changes from ${base.etcd.members} to ${headMembers} members (tolerates ${tolerated} -> ${head?.etcd?.failuresTolerated ?? 0} failures)`;
    if (headMembers < base.etcd.members && base.etcd.members - headMembers > tolerated) quorumRisks.push(`${line}: removing ${base.etcd.members - headMembers} members at once loses quorum`);
    else disruptions.push(line);
  }
  for (const node of nodes) {
    if (node.role === "load-balancer" && down(node.change)) {
      const others = base.nodes.filter((candidate) => candidate.role === "load-balancer").length - 1;
      disruptions.push(`${node.name} is ${node.change}: ${others > 0 ? "the API endpoint runs on the other load balancers meanwhile" : "the API endpoint is down until the new load balancer has booted (running pods keep serving)"}`);
    }
  }
  return { quorumRisks, disruptions };
}

/**
 * Per file name: nodes that share exactly the same diff are listed once. Nodes that exist on one
 * side only are left out: all their files are new (or gone), and the node table says so.
 */
function compareFiles(base: SynthesizedStack | undefined, head: SynthesizedStack | undefined): FileDiff[] {
  const nodesOf = (side: SynthesizedStack | undefined) => new Set([...(side?.review.keys() ?? [])].filter((key) => key.startsWith("files/")).map((key) => key.split("/")[1]));
  const baseNodes = nodesOf(base);
  const headNodes = nodesOf(head);
  const keys = new Set<string>();
  for (const side of [base, head]) {
    for (const key of side?.review.keys() ?? []) {
      const node = key.split("/")[1];
      if (key.startsWith("files/") && !key.endsWith(`/${USER_DATA_FILE}`) && baseNodes.has(node) && headNodes.has(node)) keys.add(key);
    }
  }
  const grouped = new Map<string, { file: string; nodes: string[]; diff: string }>();
  for (const key of [...keys].sort()) {
    const before = base?.review.get(key);
    const after = head?.review.get(key);
    if (before === after) continue;
    const [, node, ...rest] = key.split("/");
    const file = rest.join("/");
    const diff = unifiedDiff(before ?? "", after ?? "", before === undefined ? "/dev/null" : `base/${file}`, after === undefined ? "/dev/null" : `head/${file}`);
    // Grouped on the changed lines only: nodes whose files differ just in context (a node's own
    // name or address) share one entry, and the first node's diff stands for all of them.
    const changedLines = diff.split("\n").slice(2).filter((line) => /^[-+]/.test(line)).join("\n");
    const group = `${file}\u0000${changedLines}`;
    const entry = grouped.get(group) ?? { file, nodes: [], diff };
    entry.nodes.push(node);
    grouped.set(group, entry);
  }
  return [...grouped.values()].map((entry) => {
    const body = entry.diff.split("\n").slice(2);
    return {
      ...entry,
      added: body.filter((line) => line.startsWith("+")).length,
      removed: body.filter((line) => line.startsWith("-")).length,
    };
  });
}

function compareRules(base: StackJson | undefined, head: StackJson | undefined) {
  return compareLists(base ? securityRulesOf(base).map(describeRule) : [], head ? securityRulesOf(head).map(describeRule) : []);
}

function compareLists(before: readonly string[], after: readonly string[]) {
  return { added: after.filter((item) => !before.includes(item)), removed: before.filter((item) => !after.includes(item)) };
}

/** The REVIEW.md table "What this cluster survives", before and after, keyed by failure. */
function compareFailureTables(before: string | undefined, after: string | undefined): FailureRow[] {
  const baseRows = failureTable(before);
  const headRows = failureTable(after);
  const rows: FailureRow[] = [];
  for (const [failure, row] of headRows) rows.push({ failure, before: baseRows.get(failure)?.survives, after: row.survives, why: row.why });
  for (const [failure, row] of baseRows) if (!headRows.has(failure)) rows.push({ failure, before: row.survives, why: row.why });
  return rows;
}

function failureTable(page: string | undefined): Map<string, { survives: boolean; why: string }> {
  const rows = new Map<string, { survives: boolean; why: string }>();
  if (!page) return rows;
  const section = page.split("## What this cluster survives")[1]?.split("\n## ")[0] ?? "";
  for (const line of section.split("\n")) {
    const cells = line.split(" | ");
    if (!line.startsWith("| ") || cells.length < 3 || line.startsWith("| failure") || line.startsWith("| ---")) continue;
    const failure = cells[0].slice(2);
    const why = cells.slice(2).join(" | ").replace(/ \|$/, "");
    rows.set(failure, { survives: cells[1] === "yes", why });
  }
  return rows;
}

function compareResources(base: StackJson | undefined, head: StackJson | undefined): ResourceChanges {
  // Data sources too: a policy document (an IAM permission, a key policy) changes only there.
  const flatten = (json: StackJson | undefined) => {
    const out = new Map<string, string>();
    for (const [prefix, blocks] of [["", json?.resource], ["data.", json?.data]] as const) {
      for (const [type, resources] of Object.entries(blocks ?? {})) {
        if (type === "aws_instance") continue;
        for (const [name, resource] of Object.entries(resources)) {
          // depends_on orders an apply; a change to it alone changes nothing Terraform plans.
          const compared = Object.entries(resource).filter(([key]) => !IGNORED_IN_COMPARISON.has(key));
          out.set(`${prefix}${type}.${name}`, JSON.stringify(compared));
        }
      }
    }
    return out;
  };
  const before = flatten(base);
  const after = flatten(head);
  return {
    added: [...after.keys()].filter((key) => !before.has(key)).sort(),
    removed: [...before.keys()].filter((key) => !after.has(key)).sort(),
    changed: [...after.keys()].filter((key) => before.has(key) && before.get(key) !== after.get(key)).sort(),
  };
}
