/**
 * The shared command line of the day-2 commands: `<stack>` and options, the spec loaded and
 * rendered the way synth does, and a context with the real ClusterOps (or a test's).
 */
import * as path from "path";
import { loadClusterSpecs, SpecLoadError } from "../../lib/load-specs";
import { buildTopology, Topology } from "../../lib/topology";
import { renderCluster } from "../../lib/render/cluster";
import type { ClusterOps } from "../../lib/day2/cluster-ops";
import { Day2Error } from "../../lib/day2/cluster-ops";
import type { Day2Context, MembershipCounts } from "../../lib/day2/health";
import { AwsOps } from "./aws-ops";
import { processRunner } from "./runner";

export const REPO_ROOT = path.join(__dirname, "..", "..");

export interface CliDeps {
  readonly clustersDir?: string;
  readonly outdir?: string;
  readonly stateDir?: string;
  readonly log?: (line: string) => void;
  readonly ops?: (topology: Topology, outdir: string) => ClusterOps;
  readonly pollSeconds?: number;
  readonly waitSeconds?: number;
}

export interface ParsedArgs {
  readonly stack: string;
  readonly options: Record<string, string | true>;
}

/** `<stack> [--flag value | --switch]...`, each option from `accepted` (value options) or `switches`. */
export function parseArgs(command: string, argv: readonly string[], accepted: readonly string[], switches: readonly string[]): ParsedArgs {
  const usage = `usage: npm run ${command} -- <stack> ${[...accepted.map((name) => `[--${name} X]`), ...switches.map((name) => `[--${name}]`)].join(" ")}`;
  const [stack, ...rest] = argv;
  if (!stack || stack.startsWith("-")) throw new Day2Error(`${usage}\n(the first argument is the stack, e.g. five-server)`);
  const options: Record<string, string | true> = {};
  for (let index = 0; index < rest.length; index++) {
    const arg = rest[index];
    const name = arg.replace(/^--/, "");
    if (!arg.startsWith("--")) throw new Day2Error(`${JSON.stringify(arg)}: unexpected argument\n${usage}`);
    if (name in options) throw new Day2Error(`--${name} is given twice`);
    if (switches.includes(name)) {
      options[name] = true;
    } else if (accepted.includes(name)) {
      const value = rest[index + 1];
      if (value === undefined || value.startsWith("--")) throw new Day2Error(`--${name} needs a value\n${usage}`);
      options[name] = value;
      index++;
    } else {
      throw new Day2Error(`--${name}: unknown option\n${usage}`);
    }
  }
  return { stack, options };
}

/** The spec's topology with other control-plane and (external) etcd counts. */
export function topologyWithCounts(topology: Topology, counts: MembershipCounts): Topology {
  const { spec } = topology;
  return buildTopology(
    {
      ...spec,
      controlPlane: { ...spec.controlPlane, count: counts["control-plane"] },
      etcd: spec.etcd.topology === "external" ? { ...spec.etcd, members: counts.etcd } : spec.etcd,
    },
    topology.warnings,
  );
}

export function day2Context(stack: string, deps: CliDeps): Day2Context {
  const clustersDir = deps.clustersDir ?? path.resolve(process.env.CLUSTERS_DIR ?? path.join(REPO_ROOT, "clusters"));
  const outdir = deps.outdir ?? path.resolve(process.env.CDKTF_OUTDIR ?? path.join(REPO_ROOT, "cdktf.out"));
  const loaded = loadClusterSpecs(clustersDir);
  const spec = loaded.find((candidate) => candidate.spec.name === stack);
  if (!spec) {
    throw new Day2Error(`${JSON.stringify(stack)}: no such stack; known: ${loaded.map((candidate) => candidate.spec.name).join(", ")} (from ${clustersDir})`);
  }
  const topology = buildTopology(spec.spec, spec.warnings);
  const log = deps.log ?? ((line: string) => console.log(line));
  return {
    topology,
    digests: renderCluster(topology).digests,
    digestsWith: (counts) => renderCluster(topologyWithCounts(topology, counts)).digests,
    ops: deps.ops ? deps.ops(topology, outdir) : new AwsOps({ topology, runner: processRunner, repoRoot: REPO_ROOT, outdir }),
    log,
    // Beside the output folder, like the local Terraform state.
    stateDir: deps.stateDir ?? path.join(path.dirname(outdir), "state"),
    pollSeconds: deps.pollSeconds,
    waitSeconds: deps.waitSeconds,
  };
}

/** Runs a command's body; prints a Day2Error or a bad spec as a clear error and returns exit code 1. */
export async function runCli(body: () => Promise<void>, log: (line: string) => void = (line) => console.error(line)): Promise<number> {
  try {
    await body();
    return 0;
  } catch (error) {
    if (error instanceof Day2Error) {
      log(`error: ${error.message}`);
      return 1;
    }
    if (error instanceof SpecLoadError) {
      log("error: invalid cluster spec");
      for (const problem of error.problems) log(problem);
      return 1;
    }
    log(`error: ${(error as Error).message}`);
    return 2;
  }
}
