/**
 * The review diff as Markdown, the body of the pull request's review comment. The workflow's
 * comment helper (scripts/ci/review-comment.js) splits a long body into comments that fit
 * GitHub's 65,536-character limit; blocks end at line boundaries it can cut at.
 */
import type { FailureRow, StackDiff } from "./compare";
import type { PlanReport } from "./plan-report";

export interface ReviewDiffOptions {
  /** What the base is, e.g. "origin/main (3f2c1a0)". */
  readonly baseLabel: string;
  readonly headLabel: string;
  /** Why no Terraform plan ran at all ("terraform is not on PATH"), shown once under the title. */
  readonly planNotRun?: string;
}

/** The document as blocks, one per section or file diff. */
export function renderReviewDiffBlocks(diffs: readonly StackDiff[], options: ReviewDiffOptions): string[] {
  const changed = diffs.filter((diff) => diff.status !== "unchanged");
  const risky = diffs.filter((diff) => diff.quorumRisks.length > 0);
  const blocks = [
    [
      `# kubeadm-ha review: ${options.baseLabel} -> ${options.headLabel}`,
      "",
      `Stacks: ${diffs.map((diff) => `\`${diff.stack}\` (${diff.status})`).join(", ") || "none"}.`,
      "",
      risky.length > 0
        ? `**Quorum risk in ${risky.map((diff) => `\`${diff.stack}\``).join(", ")}: read before applying.**`
        : "No change takes down more etcd members or API servers than the cluster tolerates.",
      "",
      ...(options.planNotRun ? [`plan: not run: ${options.planNotRun}`, ""] : []),
    ].join("\n"),
  ];
  for (const diff of changed) blocks.push(...stackBlocks(diff));
  return blocks;
}

function stackBlocks(diff: StackDiff): string[] {
  const blocks: string[] = [];
  const head = [`## ${diff.stack} (${diff.status})`, ""];
  head.push("### Quorum risk", "");
  if (diff.quorumRisks.length === 0) head.push("None: no apply of this change takes down more etcd members or API servers than etcd tolerates.", "");
  else head.push(...diff.quorumRisks.map((risk) => `- :warning: ${risk}`), "");
  if (diff.disruptions.length > 0) head.push("Disruptions the cluster survives:", "", ...diff.disruptions.map((line) => `- ${line}`), "");
  blocks.push(head.join("\n"));
  if (diff.plan) blocks.push(planBlock(diff.plan));

  const touched = diff.nodes.filter((node) => node.change !== "unchanged");
  if (touched.length > 0) {
    const counts = countBy(touched.map((node) => node.change));
    blocks.push(
      [
        "### Nodes",
        "",
        Object.entries(counts).map(([change, count]) => `${count} ${change}`).join(", ") + `; ${diff.nodes.length - touched.length} unchanged.`,
        "",
        "| node | role | change | why |",
        "| --- | --- | --- | --- |",
        ...touched.map((node) => `| ${node.name} | ${node.role} | ${node.change} | ${escapeCell(node.reasons.join("; ") || "-")} |`),
        "",
      ].join("\n"),
    );
  }
  const rotation = touched.filter((node) => node.change === "rotation");
  if (rotation.length > 0) {
    blocks.push(
      [
        "### Reaches the nodes only through rotation or upgrade",
        "",
        `Terraform leaves these running nodes as they are; \`npm run rotate -- ${diff.stack}\` replaces them one at a time: ${rotation.map((node) => node.name).join(", ")}.`,
        "",
      ].join("\n"),
    );
  }
  if (diff.rules.added.length + diff.rules.removed.length > 0) {
    blocks.push(["### Security-group rules", "", "```diff", ...diff.rules.removed.map((rule) => `- ${rule}`), ...diff.rules.added.map((rule) => `+ ${rule}`), "```", ""].join("\n"));
  }
  if (diff.failures.some((row) => row.before !== row.after)) blocks.push(failureBlock(diff.failures));
  if (diff.warnings.added.length + diff.warnings.removed.length > 0) {
    blocks.push(
      ["### Warnings", "", ...diff.warnings.added.map((warning) => `- added: ${warning}`), ...diff.warnings.removed.map((warning) => `- removed: ${warning}`), ""].join("\n"),
    );
  }
  if (diff.fileDiffs.length > 0) {
    blocks.push(
      [
        "### Rendered files",
        "",
        `${diff.fileDiffs.length} file diff(s). Nodes whose file changes the same lines are listed together; the diff shown is the first node's.`,
        "",
      ].join("\n"),
    );
    for (const file of diff.fileDiffs) {
      blocks.push(
        [
          `<details><summary>${file.nodes.join(", ")}: <code>${file.file}</code> (+${file.added} -${file.removed})</summary>`,
          "",
          "```diff",
          file.diff,
          "```",
          "",
          "</details>",
          "",
        ].join("\n"),
      );
    }
  }
  const { added, removed, changed } = diff.resources;
  if (added.length + removed.length + changed.length > 0) {
    blocks.push(
      [
        "### Other resources (from the synthesized JSON)",
        "",
        ...removed.map((address) => `- removed: \`${address}\``),
        ...added.map((address) => `- added: \`${address}\``),
        ...changed.map((address) => `- changed: \`${address}\``),
        "",
      ].join("\n"),
    );
  }
  return blocks;
}

/** Plan rows shown as one table; past this, creates and updates fold into <details>. */
const PLAN_ROWS_SHOWN = 20;

function planBlock(report: PlanReport): string {
  const { outcome } = report;
  const lines = ["### Plan", ""];
  const how = `Planned offline${report.tool ? ` by ${report.tool}` : ""}: every AWS read is answered by a loopback stub and nothing is refreshed, so drift and values AWS picks do not show.`;
  switch (outcome.kind) {
    case "identical":
      lines.push("No changes: the stack's Terraform configuration is identical to the base's.");
      break;
    case "not-run":
      lines.push(`plan: not run: ${outcome.reason}`);
      break;
    case "failed":
      lines.push(`plan: failed: ${outcome.message}`);
      break;
    case "refused":
      lines.push(
        "**Refused:** `terraform plan` of the head against a synthetic state of the base stops with an error: the day-2 guards protect these resources, so `cdktf deploy` of this change fails and applies nothing. How to make such a change: the change classes in docs/operations-changes.md.",
        "",
        ...outcome.refusals.map((refusal) => `- refused: \`${refusal.address}\`: ${refusal.message}`),
        ...outcome.otherErrors.map((error) => `- error: ${error.summary}${error.detail ? `: ${error.detail}` : ""}`),
        "",
        how,
      );
      break;
    case "planned": {
      const { summary, outputs } = outcome.digest;
      const against = outcome.against === "base" ? "a synthetic state of the base" : "an empty state (a new stack)";
      lines.push(`**${summary.add} to add, ${summary.change} to change, ${summary.destroy} to destroy** (${summary.replace} replaced): \`terraform plan\` of the head against ${against}.`);
      const table = (rows: PlanReport["rows"]) => [
        "| resource | node | action | why |",
        "| --- | --- | --- | --- |",
        ...rows.map((row) => `| \`${row.address}\` | ${row.node ?? "-"} | ${row.action} | ${escapeCell(row.why || "-")} |`),
      ];
      // Replacements and destroys always show; a long list of creates and updates folds.
      const gone = report.rows.filter((row) => row.action === "replace" || row.action === "delete");
      const rest = report.rows.filter((row) => !gone.includes(row));
      if (report.rows.length <= PLAN_ROWS_SHOWN) {
        if (report.rows.length > 0) lines.push("", ...table(report.rows));
      } else {
        if (gone.length > 0) lines.push("", ...table(gone));
        lines.push("", `<details><summary>${rest.length} resource(s) created or updated in place</summary>`, "", ...table(rest), "", "</details>");
      }
      if (outputs.length > 0) lines.push("", `Outputs that change: ${outputs.map((name) => `\`${name}\``).join(", ")}.`);
      lines.push("", how);
      break;
    }
  }
  lines.push("");
  return lines.join("\n");
}

function failureBlock(rows: readonly FailureRow[]): string {
  const mark = (value: boolean | undefined) => (value === undefined ? "-" : value ? "yes" : "**no**");
  return [
    "### What the cluster survives, before and after",
    "",
    "| failure | before | after | why (after) |",
    "| --- | --- | --- | --- |",
    ...rows.map((row) => `| ${row.failure} | ${mark(row.before)} | ${mark(row.after)} | ${escapeCell(row.why)} |`),
    "",
  ].join("\n");
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}
