/**
 * Terraform's own plan in the review: the outcome of planning the head against a synthetic state
 * of the base (lib/plan/stack-plans.ts) joined to the stack's nodes, so the Plan section names the
 * node behind each instance, the node table gains the provider's reason (`replace_paths`), and a
 * replacement of an etcd member or API server, or a refusal by the day-2 guards, reaches the
 * quorum-risk section. Pure.
 */
import type { StackPlanOutcome } from "../plan/stack-plans";
import type { PlannedAction } from "../plan/summary";
import type { StackJson } from "../security-rules";
import { etcdMemberRole, StackDiff, topologyOf } from "./compare";
import type { PlanRow } from "./plan-report";
import type { SynthesizedStack } from "./synth-output";

export type { PlanReport, PlanRow } from "./plan-report";

const ACTION_ORDER: Record<PlannedAction, number> = { replace: 0, delete: 1, update: 2, create: 3 };

/** The diff with the plan's report attached, its risks and its nodes' reasons extended. */
export function withPlan(
  diff: StackDiff,
  outcome: StackPlanOutcome,
  sides: { readonly base?: SynthesizedStack; readonly head?: SynthesizedStack; readonly tool?: string },
): StackDiff {
  const nodesByAddress = new Map([...nodeAddresses(sides.base?.json), ...nodeAddresses(sides.head?.json)]);
  const roles = new Map<string, string>();
  for (const side of [sides.base, sides.head]) for (const node of topologyOf(side)?.nodes ?? []) roles.set(node.name, node.role);
  const rows: PlanRow[] =
    outcome.kind === "planned"
      ? outcome.digest.changes
          .map((change) => {
            const node = nodesByAddress.get(change.address);
            const why =
              change.action === "replace"
                ? [change.replacePaths.length > 0 ? `replace_paths: ${change.replacePaths.map((p) => `\`${p}\``).join(", ")}` : "", change.reason ?? ""].filter(Boolean).join("; ")
                : "";
            return { address: change.address, action: change.action, why, ...(node ? { node, role: roles.get(node) ?? "unknown" } : {}) };
          })
          .sort((a, b) => ACTION_ORDER[a.action] - ACTION_ORDER[b.action])
      : [];

  const quorumRisks = [...diff.quorumRisks, ...planRisks(outcome, rows, sides.base)];
  // The node table's reasons gain what Terraform says about each node's instance.
  const instanceRows = new Map(rows.filter((row) => row.node && row.address.startsWith("aws_instance.")).map((row) => [row.node!, row]));
  const nodes = diff.nodes.map((node) => {
    const row = instanceRows.get(node.name);
    if (!row) return node;
    return { ...node, reasons: [...node.reasons, `plan: ${row.action}${row.why ? ` (${row.why})` : ""}`] };
  });
  return { ...diff, nodes, quorumRisks, plan: { outcome, rows, ...(sides.tool ? { tool: sides.tool } : {}) } };
}

function planRisks(outcome: StackPlanOutcome, rows: readonly PlanRow[], base: SynthesizedStack | undefined): string[] {
  const risks: string[] = [];
  if (outcome.kind === "refused") {
    const guarded = outcome.refusals.map((refusal) => `\`${refusal.address}\``).join(", ");
    risks.push(`plan: refused by the day-2 guards (prevent_destroy on ${guarded}): Terraform stops the whole plan, so this change cannot be applied as it is; see Plan`);
  }
  const topology = topologyOf(base);
  if (outcome.kind !== "planned" || !topology) return risks;
  const memberRole = etcdMemberRole(topology);
  const tolerated = topology.etcd?.failuresTolerated ?? 0;
  const gone = rows.filter((row) => row.address.startsWith("aws_instance.") && (row.action === "replace" || row.action === "delete"));
  const members = gone.filter((row) => row.role === memberRole);
  if (members.length > 0) {
    const list = members.map((row) => `${row.node} (${row.action === "replace" ? `replaced${row.why ? `, ${row.why}` : ""}` : "destroyed"})`).join(", ");
    const line = `plan: Terraform takes down ${members.length} etcd member${members.length === 1 ? "" : "s"} in one apply: ${list}; the members tolerate ${tolerated} failure${tolerated === 1 ? "" : "s"}`;
    risks.push(members.length > tolerated ? `${line}: **quorum is lost**` : `${line}; no member is removed from etcd first: use \`npm run rotate\``);
  }
  const apiServers = gone.filter((row) => row.role === "control-plane" && memberRole !== "control-plane");
  if (apiServers.length > 0) {
    risks.push(`plan: Terraform ${apiServers.map((row) => `${row.action === "replace" ? "replaces" : "destroys"} ${row.node}`).join(", ")} (an API server)${apiServers.length === topology.nodes.filter((node) => node.role === "control-plane").length ? ": every API server at once, the API is unreachable" : ""}`);
  }
  return risks;
}

/** Terraform address -> node name, for each instance and node record (the construct path names the node). */
function nodeAddresses(json: StackJson | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, resource] of Object.entries(json?.resource?.aws_instance ?? {})) {
    const path = resource["//"]?.metadata?.path;
    if (path) out.set(`aws_instance.${name}`, path.split("/").pop()!);
  }
  for (const name of Object.keys(json?.resource?.terraform_data ?? {})) {
    const node = /^node_config_(.+)$/.exec(name)?.[1];
    if (node) out.set(`terraform_data.${name}`, node);
  }
  return out;
}
