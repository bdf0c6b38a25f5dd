/**
 * What a reviewer reads from a real plan: Terraform's counts (add / change / destroy, plus how many
 * of those are replacements), each resource it creates, updates, destroys or replaces with the
 * provider's reason (`replace_paths`, `action_reason`), and, for a plan Terraform refuses, its
 * error diagnostics (a day-2 guard's prevent_destroy names the resource it protects).
 * Pure: reads `terraform show -json` output and Terraform's -no-color text; never a value of a
 * resource (values can be sensitive), only addresses, actions and attribute paths.
 */
import type { PlanJson, ResourceChange } from "./terraform";

export interface PlanSummary {
  /** Resources to create, replacements included (Terraform's "to add"). */
  readonly add: number;
  /** Resources updated in place. */
  readonly change: number;
  /** Resources to destroy, replacements included (Terraform's "to destroy"). */
  readonly destroy: number;
  /** Resources replaced (delete+create in either order). */
  readonly replace: number;
}

export type PlannedAction = "create" | "update" | "delete" | "replace";

export interface PlannedChange {
  readonly address: string;
  readonly type: string;
  readonly action: PlannedAction;
  /** The attributes whose change forces the replacement, as `a.b[0].c` (replace actions only). */
  readonly replacePaths: readonly string[];
  /** Terraform's action_reason where it gives one (replace_because_cannot_update, replace_by_request, ...). */
  readonly reason?: string;
}

export interface PlanDigest {
  readonly summary: PlanSummary;
  /** Managed resources whose action is not a no-op, in Terraform's order. */
  readonly changes: readonly PlannedChange[];
  /** Outputs whose value changes. */
  readonly outputs: readonly string[];
}

/** One action per resource change (data reads and no-ops: undefined). */
export function actionOf(actions: readonly string[]): PlannedAction | undefined {
  const joined = [...actions].sort().join("+");
  if (joined === "create+delete") return "replace";
  if (joined === "create" || joined === "update" || joined === "delete") return joined;
  return undefined;
}

/** Terraform's own counting: a replacement is one add and one destroy. */
export function countChanges(changes: readonly Pick<ResourceChange, "mode" | "change">[]): PlanSummary {
  let add = 0;
  let change = 0;
  let destroy = 0;
  let replace = 0;
  for (const resourceChange of changes) {
    if (resourceChange.mode !== "managed") continue;
    const action = actionOf(resourceChange.change.actions);
    if (action === "create" || action === "replace") add++;
    if (action === "delete" || action === "replace") destroy++;
    if (action === "replace") replace++;
    if (action === "update") change++;
  }
  return { add, change, destroy, replace };
}

export function digestPlan(json: Pick<PlanJson, "resource_changes" | "output_changes">): PlanDigest {
  const managed = (json.resource_changes ?? []).filter((change) => change.mode === "managed");
  const changes: PlannedChange[] = [];
  for (const resourceChange of managed) {
    const action = actionOf(resourceChange.change.actions);
    if (!action) continue;
    changes.push({
      address: resourceChange.address,
      type: resourceChange.type,
      action,
      replacePaths: action === "replace" ? (resourceChange.change.replace_paths ?? []).map(formatPath) : [],
      ...(resourceChange.action_reason ? { reason: resourceChange.action_reason } : {}),
    });
  }
  const outputs = Object.entries(json.output_changes ?? {})
    .filter(([, change]) => change.actions.join() !== "no-op")
    .map(([name]) => name)
    .sort();
  return { summary: countChanges(managed), changes, outputs };
}

/** ["root_block_device", 0, "volume_size"] -> root_block_device[0].volume_size */
export function formatPath(steps: readonly (string | number)[]): string {
  return steps
    .map((step, index) => (typeof step === "number" ? `[${step}]` : /^[A-Za-z_][\w-]*$/.test(step) ? `${index === 0 ? "" : "."}${step}` : `[${JSON.stringify(step)}]`))
    .join("");
}

export interface Diagnostic {
  readonly severity: "error" | "warning";
  /** Terraform's one-line summary ("Instance cannot be destroyed"). */
  readonly summary: string;
  /** The explanation, re-flowed onto one line; source snippets ("on cdk.tf.json line ...") left out. */
  readonly detail: string;
}

/**
 * Diagnostics from Terraform's -no-color output, boxed (│ ...) or not. The source lines Terraform
 * quotes are dropped: they are configuration text, which a report does not repeat.
 */
export function diagnosticsOf(output: string): Diagnostic[] {
  const raw = output.split("\n");
  const lines = raw.map((line) => line.replace(/^[│╷╵]\s?/, "").replace(/\s+$/, ""));
  const diagnostics: Diagnostic[] = [];
  for (let index = 0; index < lines.length; index++) {
    const start = /^(Error|Warning): (.+)$/.exec(lines[index]);
    if (!start) continue;
    const body: string[] = [];
    let cursor = index + 1;
    for (; cursor < lines.length && !/^(Error|Warning): /.test(lines[cursor]) && !/^[╷╵]/.test(raw[cursor]); cursor++) {
      body.push(lines[cursor]);
    }
    diagnostics.push({ severity: start[1] === "Error" ? "error" : "warning", summary: start[2].trim(), detail: proseOf(body) });
    index = cursor - 1;
  }
  return diagnostics;
}

/** The explanation paragraphs of a diagnostic body, without the quoted source. */
function proseOf(body: readonly string[]): string {
  const paragraphs: string[][] = [[]];
  for (const line of body) {
    if (line.trim() === "") paragraphs.push([]);
    else paragraphs[paragraphs.length - 1].push(line.trim());
  }
  return paragraphs
    .filter((paragraph) => paragraph.length > 0)
    // "on <file> line N, in <block>:" and the numbered source lines under it.
    .filter((paragraph) => !/^on \S+ line \d+/.test(paragraph[0]))
    .filter((paragraph) => !paragraph.every((line) => /^\d+:|^├|^└|^\(and \d+ more|^\|/.test(line)))
    .map((paragraph) => paragraph.join(" "))
    .join(" ");
}

export interface Refusal {
  /** The protected resource (a day-2 guard or a node whose lifecycle forbids its destruction). */
  readonly address: string;
  /** Terraform's message. */
  readonly message: string;
}

const PREVENT_DESTROY = /Resource (\S+) has lifecycle\.prevent_destroy set/;

/** The resources a failed plan refuses to destroy (prevent_destroy), one each, in Terraform's order. */
export function refusalsOf(diagnostics: readonly Diagnostic[]): Refusal[] {
  const refusals: Refusal[] = [];
  for (const diagnostic of diagnostics) {
    const match = diagnostic.severity === "error" ? PREVENT_DESTROY.exec(diagnostic.detail) : null;
    if (match && !refusals.some((refusal) => refusal.address === match[1])) {
      refusals.push({ address: match[1], message: `${diagnostic.summary}: ${diagnostic.detail}` });
    }
  }
  return refusals;
}
