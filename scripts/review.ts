/**
 * `npm run review -- --base <git-ref>`: what a pull request changes, per stack, for a reviewer.
 * Synthesizes the base ref (in a temporary git worktree) and the working tree, compares them
 * (lib/review-diff/), and, where Terraform and the provider are available, plans each changed
 * stack of the head against a synthetic state of the base (lib/plan/, offline: every AWS call goes
 * to a loopback stub). Writes Markdown to stdout and to <out>/review/DIFF.md. The pull-request
 * workflow posts it as the review comment (scripts/ci/review-comment.js splits a long one).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { planStacks, StackPlans } from "../lib/plan/stack-plans";
import { compareStacks } from "../lib/review-diff/compare";
import { renderReviewDiffBlocks } from "../lib/review-diff/markdown";
import { withPlan } from "../lib/review-diff/plan";
import { readSynthOutput } from "../lib/review-diff/synth-output";

interface Options {
  readonly base: string;
  readonly out: string;
  readonly plan: boolean;
  /** The plans' time budget, init included. */
  readonly planTimeoutSeconds: number;
}

const USAGE = "usage: npm run review -- --base <git-ref> [--out <folder>] [--no-plan] [--plan-timeout <seconds>]";
const DEFAULT_PLAN_TIMEOUT_SECONDS = 600;

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Options {
  let base: string | undefined;
  let out = "cdktf.out";
  let plan = true;
  let planTimeoutSeconds = DEFAULT_PLAN_TIMEOUT_SECONDS;
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index];
    const value = () => {
      const next = argv[index + 1];
      if (next === undefined || next.startsWith("--")) throw new UsageError(`review: ${arg}: a value is required\n${USAGE}`);
      index += 1;
      return next;
    };
    if (arg === "--base") base = value();
    else if (arg === "--out") out = value();
    else if (arg === "--no-plan") plan = false;
    else if (arg === "--plan-timeout") {
      const text = value();
      planTimeoutSeconds = Number(text);
      if (!/^\d+$/.test(text) || planTimeoutSeconds < 1) throw new UsageError(`review: --plan-timeout: "${text}": a whole number of seconds (at least 1) is accepted\n${USAGE}`);
    } else if (arg === "--help" || arg === "-h") throw new UsageError(USAGE);
    else throw new UsageError(`review: "${arg}": unknown argument; accepted: --base, --out, --no-plan, --plan-timeout\n${USAGE}`);
  }
  if (!base) throw new UsageError(`review: --base is required (the git ref the change is compared with, e.g. origin/main)\n${USAGE}`);
  return { base, out, plan, planTimeoutSeconds };
}

function git(cwd: string, args: readonly string[]): string {
  const result = spawnSync("git", args, { cwd, encoding: "utf8" });
  if (result.error) throw new Error(`review: git is needed: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`review: git ${args.join(" ")}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

function synth(projectDir: string, outdir: string, what: string): void {
  const env: NodeJS.ProcessEnv = { ...process.env, CDKTF_OUTDIR: outdir, CHECKPOINT_DISABLE: "1" };
  if (process.env.CLUSTERS_DIR) env.CLUSTERS_DIR = path.resolve(process.env.CLUSTERS_DIR);
  const result = spawnSync(process.execPath, ["-r", "./scripts/register.js", "main.ts"], { cwd: projectDir, env, encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`review: synthesizing ${what} failed:\n${(result.stderr || result.stdout).trim()}`);
  }
}

async function main(argv: readonly string[]): Promise<number> {
  let options: Options;
  try {
    options = parseArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const root = git(process.cwd(), ["rev-parse", "--show-toplevel"]);
  let commit: string;
  try {
    commit = git(root, ["rev-parse", "--verify", "--quiet", `${options.base}^{commit}`]);
  } catch {
    console.error(`review: --base: "${options.base}": not a commit in this repository (try a branch, tag or commit id, e.g. origin/main)`);
    return 2;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "kubeadm-ha-review-"));
  const baseDir = path.join(work, "base");
  try {
    git(root, ["worktree", "add", "--detach", "--quiet", baseDir, commit]);
    // The base synthesizes with this checkout's installed packages.
    if (!fs.existsSync(path.join(baseDir, "node_modules"))) fs.symlinkSync(path.join(root, "node_modules"), path.join(baseDir, "node_modules"), "dir");
    const baseOut = path.join(work, "base-out");
    synth(baseDir, baseOut, `the base (${options.base})`);
    const headOut = path.resolve(root, options.out);
    synth(root, headOut, "the working tree");

    const base = readSynthOutput(baseOut);
    const head = readSynthOutput(headOut);
    const stacks = [...new Set([...base.keys(), ...head.keys()])].sort();
    let diffs = stacks.map((name) => compareStacks(base.get(name), head.get(name)));

    // Terraform's own view of each stack that an apply would touch.
    const planned = diffs.filter((diff) => diff.status === "changed" || diff.status === "added");
    let plans: StackPlans | undefined;
    if (!options.plan) plans = { notRun: "--no-plan", outcomes: new Map() };
    else if (planned.length > 0) {
      plans = await planStacks(
        planned.map((diff) => ({
          stack: diff.stack,
          ...(base.has(diff.stack) ? { baseDir: path.join(baseOut, "stacks", diff.stack) } : {}),
          headDir: path.join(headOut, "stacks", diff.stack),
        })),
        { budgetMs: options.planTimeoutSeconds * 1000, log: (line) => console.error(line) },
      );
    }
    diffs = diffs.map((diff) => {
      const outcome = plans?.outcomes.get(diff.stack);
      return outcome ? withPlan(diff, outcome, { base: base.get(diff.stack), head: head.get(diff.stack), tool: plans?.tool }) : diff;
    });
    const blocks = renderReviewDiffBlocks(diffs, {
      baseLabel: `${options.base} (${commit.slice(0, 7)})`,
      headLabel: "working tree",
      ...(plans?.notRun ? { planNotRun: plans.notRun } : {}),
    });
    const joined = blocks.join("\n");
    const full = joined.endsWith("\n") ? joined : `${joined}\n`;
    const reviewDir = path.join(headOut, "review");
    fs.mkdirSync(reviewDir, { recursive: true });
    fs.writeFileSync(path.join(reviewDir, "DIFF.md"), full);
    process.stdout.write(full);
    console.error(`review: ${path.relative(process.cwd(), path.join(reviewDir, "DIFF.md"))} written`);
    return 0;
  } finally {
    spawnSync("git", ["worktree", "remove", "--force", baseDir], { cwd: root });
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  },
);
