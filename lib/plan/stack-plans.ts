/**
 * Real plans for the review command: each changed stack of the head planned by Terraform against a
 * synthetic prior state of the same stack in the base (synthetic-state.ts), through the offline
 * harness (terraform.ts: provider from a filesystem mirror or the registry, every AWS call on the
 * loopback stub). Bounded: each command by its own timeout, the whole run by a time budget, two
 * stacks at a time. Nothing here throws for a missing tool or a failed plan: the outcome says why,
 * and the review goes on without it.
 */
import * as fs from "fs";
import * as path from "path";
import { digestPlan, diagnosticsOf, PlanDigest, Refusal, refusalsOf, Diagnostic } from "./summary";
import { planAgainstBase } from "./synthetic-state";
import { findTerraform, STUB_ACCESS_KEY, STUB_SECRET_KEY, startTerraform, TerraformError, TerraformHarness } from "./terraform";

export type StackPlanOutcome =
  | { readonly kind: "planned"; readonly digest: PlanDigest; readonly against: "base" | "empty" }
  /** The Terraform configuration is byte for byte the base's: a plan has nothing to do. */
  | { readonly kind: "identical" }
  /** Terraform stopped the plan: resources whose lifecycle forbids destroying them (the day-2 guards). */
  | { readonly kind: "refused"; readonly refusals: readonly Refusal[]; readonly otherErrors: readonly Diagnostic[] }
  | { readonly kind: "failed"; readonly message: string }
  | { readonly kind: "not-run"; readonly reason: string };

export interface StackPlanRequest {
  readonly stack: string;
  /** The base's synthesized stack folder (stacks/<name>); absent for a new stack. */
  readonly baseDir?: string;
  /** The head's; absent for a removed stack. */
  readonly headDir?: string;
}

export interface StackPlansOptions {
  /** The whole run, init included. @default 600 s */
  readonly budgetMs?: number;
  /** Each terraform command. @default 300 s (or the budget, if shorter) */
  readonly commandTimeoutMs?: number;
  /** Progress lines (stderr in the review command). */
  readonly log?: (line: string) => void;
}

export interface StackPlans {
  /** Set when no plan ran at all: why, in one line. */
  readonly notRun?: string;
  /** "Terraform 1.11.4 with hashicorp/aws 5.100.0 from the filesystem mirror /opt/tf-plugins". */
  readonly tool?: string;
  readonly outcomes: ReadonlyMap<string, StackPlanOutcome>;
}

const DEFAULT_BUDGET_MS = 600_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 300_000;
/** Stacks planned at once: each terraform process loads the ~700 MB provider. */
const PARALLEL_STACKS = 2;
const MESSAGE_LIMIT = 600;

/** The stub's fake keys never reach a report, whatever Terraform quotes. */
export function redact(text: string): string {
  return text.split(STUB_ACCESS_KEY).join("(redacted)").split(STUB_SECRET_KEY).join("(redacted)");
}

export async function planStacks(requests: readonly StackPlanRequest[], options: StackPlansOptions = {}): Promise<StackPlans> {
  const log = options.log ?? (() => undefined);
  const budgetMs = options.budgetMs ?? DEFAULT_BUDGET_MS;
  const outcomes = new Map<string, StackPlanOutcome>();
  const toPlan: StackPlanRequest[] = [];
  for (const request of requests) {
    if (!request.headDir) outcomes.set(request.stack, { kind: "not-run", reason: "the stack's spec is gone, so no apply touches it" });
    else if (request.baseDir && sameConfiguration(request.baseDir, request.headDir)) outcomes.set(request.stack, { kind: "identical" });
    else toPlan.push(request);
  }
  if (toPlan.length === 0) return { outcomes };

  let terraform: { binary: string; version: string };
  try {
    terraform = findTerraform();
  } catch {
    const tried = process.env.KUBEADM_HA_TERRAFORM;
    return { notRun: tried ? `KUBEADM_HA_TERRAFORM=${tried} does not run terraform` : "terraform is not on PATH (install Terraform >= 1.10, or set KUBEADM_HA_TERRAFORM)", outcomes };
  }
  const started = Date.now();
  let tf: TerraformHarness;
  try {
    tf = await startTerraform({ commandTimeoutMs: Math.min(options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, budgetMs), terraform });
  } catch (error) {
    return { notRun: oneLine(`the plan harness did not start: ${(error as Error).message}`), outcomes };
  }
  const tool = `Terraform ${terraform.version} with hashicorp/aws ${tf.mirror ? `${tf.mirror.awsVersion} from the filesystem mirror ${tf.mirror.dir}` : "as the stack pins it, from the registry"}`;
  log(`review: planning ${toPlan.map((request) => request.stack).join(", ")} with ${tool}`);

  let timedOut = false;
  let initFailure: string | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    void tf.close();
  }, Math.max(0, budgetMs - (Date.now() - started)));
  const queue = [...toPlan];
  const worker = async () => {
    for (let request = queue.shift(); request; request = queue.shift()) {
      const { stack } = request;
      if (timedOut || initFailure) {
        outcomes.set(stack, { kind: "not-run", reason: timedOut ? `the plan time budget (${budgetMs / 1000} s) ran out` : initFailure! });
        continue;
      }
      const t0 = Date.now();
      try {
        outcomes.set(stack, await planOne(tf, request));
        log(`review: planned ${stack} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      } catch (error) {
        if (timedOut) {
          outcomes.set(stack, { kind: "not-run", reason: `the plan time budget (${budgetMs / 1000} s) ran out` });
        } else if (error instanceof TerraformError && error.command.startsWith("init")) {
          initFailure = oneLine(`terraform init could not install the provider: ${firstError(error)}`);
          outcomes.set(stack, { kind: "not-run", reason: initFailure });
        } else {
          outcomes.set(stack, failure(error));
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(PARALLEL_STACKS, toPlan.length) }, worker));
  } finally {
    clearTimeout(timer);
    await tf.close().catch(() => undefined);
  }
  // One reason for all: say it once, at the top.
  if (initFailure && toPlan.every((request) => outcomes.get(request.stack)?.kind === "not-run")) {
    for (const request of toPlan) outcomes.delete(request.stack);
    return { notRun: initFailure, outcomes };
  }
  return { tool, outcomes };
}

async function planOne(tf: TerraformHarness, request: StackPlanRequest): Promise<StackPlanOutcome> {
  const headDir = request.headDir!;
  try {
    if (!request.baseDir) {
      // A new stack: everything is created; no prior state to build.
      const plan = await tf.planStack(headDir, { refresh: false, validate: false, label: `${request.stack}-new` });
      return { kind: "planned", digest: digestPlan(plan.json), against: "empty" };
    }
    const plan = await planAgainstBase(request.baseDir, headDir, { harness: tf });
    return { kind: "planned", digest: digestPlan(plan.plan.json), against: "base" };
  } catch (error) {
    if (error instanceof TerraformError && error.command.startsWith("plan")) {
      const diagnostics = diagnosticsOf(error.stderr).filter((diagnostic) => diagnostic.severity === "error");
      const refusals = refusalsOf(diagnostics);
      if (refusals.length > 0) {
        const otherErrors = diagnostics.filter((diagnostic) => !refusals.some((refusal) => diagnostic.detail.includes(`Resource ${refusal.address} has`)));
        return {
          kind: "refused",
          refusals: refusals.map((refusal) => ({ address: refusal.address, message: redact(refusal.message) })),
          otherErrors: otherErrors.map((diagnostic) => ({ ...diagnostic, summary: redact(diagnostic.summary), detail: redact(diagnostic.detail) })),
        };
      }
    }
    throw error;
  }
}

function failure(error: unknown): StackPlanOutcome {
  if (error instanceof TerraformError) return { kind: "failed", message: oneLine(`terraform ${error.command.split(" ")[0]}: ${firstError(error)}`) };
  // The synthetic state could not be proven (its message lists attribute names, never values).
  return { kind: "failed", message: oneLine(error instanceof Error ? error.message : String(error)) };
}

function firstError(error: TerraformError): string {
  const diagnostic = diagnosticsOf(error.stderr).find((candidate) => candidate.severity === "error");
  if (diagnostic) return `${diagnostic.summary}${diagnostic.detail ? `: ${diagnostic.detail}` : ""}`;
  const stopped = /\(stopped after \d+ s\)/.exec(error.stderr)?.[0];
  return stopped ?? (error.stderr.trim().split("\n").find((line) => line.trim() !== "") ?? `exit ${error.exitCode ?? "killed"}`);
}

function oneLine(text: string): string {
  const flat = redact(text).replace(/\s+/g, " ").trim();
  return flat.length > MESSAGE_LIMIT ? `${flat.slice(0, MESSAGE_LIMIT - 3)}...` : flat;
}

function sameConfiguration(baseDir: string, headDir: string): boolean {
  const files = (dir: string) => fs.readdirSync(dir).filter((file) => /\.tf(\.json)?$/.test(file)).sort();
  const base = files(baseDir);
  const head = files(headDir);
  return base.join() === head.join() && base.every((file) => fs.readFileSync(path.join(baseDir, file)).equals(fs.readFileSync(path.join(headDir, file))));
}
