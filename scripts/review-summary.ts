/**
 * `npm run review:summary`: the pull-request comment's body for now, from the review bundle of the
 * last synth (cdktf.out/review/<stack>/): one table row per stack from ha-report.json, then each
 * stack's REVIEW.md folded. Issue 10's base..head review diff replaces it in the workflow.
 */
import * as fs from "fs";
import * as path from "path";
import type { HaReport } from "../lib/ha-report";
import { HA_REPORT_FILE } from "../lib/ha-report";

const yesNo = (value: boolean) => (value ? "yes" : "**no**");
const seconds = (value: number | null) => (value === null ? "**never** (some failures)" : `${value} s`);

export function reviewSummary(reviewDir: string): string {
  if (!fs.existsSync(reviewDir)) throw new Error(`${reviewDir}: no review bundle; run \`npm run synth\` first`);
  const stacks = fs.readdirSync(reviewDir).filter((name) => fs.existsSync(path.join(reviewDir, name, HA_REPORT_FILE))).sort();
  if (stacks.length === 0) throw new Error(`${reviewDir}: no stack has ${HA_REPORT_FILE}; run \`npm run synth\` first`);
  const reports = stacks.map((stack) => JSON.parse(fs.readFileSync(path.join(reviewDir, stack, HA_REPORT_FILE), "utf8")) as HaReport);
  const lines = [
    "| stack | any one node | any one zone | single points of failure | etcd quorum (tolerates) | controller takeover | LB: failed API server out of rotation | HA warnings |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...reports.map((r) =>
      `| ${r.stack} | ${yesNo(r.summary.survivesEverySingleNodeFailure)} | ${yesNo(r.summary.survivesEveryZoneFailure)} | ` +
        `${r.summary.singlePointsOfFailure.join(", ") || "none"} | ${r.etcd.quorum} of ${r.etcd.members.length} (${r.etcd.failuresTolerated}) | ` +
        `${r.leaderElection.worstCaseTakeoverSeconds} s | ${r.loadBalancer.kind}: ${seconds(r.loadBalancer.worstCaseOutOfRotationSeconds)} | ${r.summary.haWarnings} |`,
    ),
    "",
  ];
  for (const stack of stacks) {
    const page = fs.readFileSync(path.join(reviewDir, stack, "REVIEW.md"), "utf8").trim();
    lines.push(`<details><summary>${stack}: REVIEW.md</summary>`, "", page, "", "</details>", "");
  }
  return `${lines.join("\n")}`;
}

if (require.main === module) {
  const outdir = process.env.CDKTF_OUTDIR ?? path.join(process.cwd(), "cdktf.out");
  try {
    process.stdout.write(reviewSummary(path.join(outdir, "review")));
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
