/**
 * `npm run bench`: synth speed and memory against baselines, growth with cluster size, test-suite
 * wall time and the failover windows measured by the integration suite. Everything is printed as
 * ratios measured in one run on this machine; gates make the command exit non-zero.
 *
 * Wall time and peak RSS come from GNU time (`/usr/bin/time -f "%e %M"`); each figure is the
 * median of several runs (BENCH_RUNS, default 3; the growth comparison: BENCH_GROWTH_ROUNDS rounds,
 * default 9, the sizes interleaved). Synth figures are re-synths into an existing output folder
 * after one uncounted run, as when a user re-runs synth; the first synth into an empty folder is
 * measured separately for the largest cluster. BENCH_INTEGRATION=0 leaves out the integration
 * suite and its failover figures (some 8 minutes).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { leaderElectionReport } from "../lib/leader-election";
import { validateSpec } from "../lib/validate";

const ROOT = path.join(__dirname, "..");
const WORK = path.join(ROOT, "bench", ".work");
const RESULTS = path.join(ROOT, "bench", "results");
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/** Rounds of the growth comparison (its gate is a ratio, and noise on a shared machine is some 10%). */
const GROWTH_ROUNDS = Number(process.env.BENCH_GROWTH_ROUNDS ?? 9);

interface Measurement {
  readonly seconds: number;
  readonly peakMb: number;
}

interface MeasureOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly runs?: number;
  /** One uncounted run first (synth into an existing output folder, as when a user re-runs it). */
  readonly warmup?: boolean;
  /** Runs before each run, untimed (e.g. emptying the output folder). */
  readonly before?: () => void;
}

/** One timed run of `command` under GNU time. */
function runOnce(label: string, command: string, args: string[], options: MeasureOptions): Measurement {
  options.before?.();
  const result = spawnSync("/usr/bin/time", ["-f", "BENCH %e %M", command, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, CHECKPOINT_DISABLE: "1", ...options.env },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const line = /BENCH ([\d.]+) (\d+)/.exec(result.stderr ?? "");
  if (result.status !== 0 || !line) {
    throw new Error(`${label} failed (exit ${result.status}):\n${(result.stderr ?? "").slice(-2000)}`);
  }
  return { seconds: Number(line[1]), peakMb: Number(line[2]) / 1024 };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function report(label: string, samples: readonly Measurement[]): Measurement {
  const figure = { seconds: median(samples.map((s) => s.seconds)), peakMb: median(samples.map((s) => s.peakMb)) };
  console.log(`  ${label.padEnd(58)} ${figure.seconds.toFixed(2).padStart(7)} s ${figure.peakMb.toFixed(0).padStart(6)} MB`);
  return figure;
}

function measure(label: string, command: string, args: string[], options: MeasureOptions = {}): Measurement {
  if (options.warmup) runOnce(label, command, args, options);
  const samples = Array.from({ length: options.runs ?? RUNS }, () => runOnce(label, command, args, options));
  return report(label, samples);
}

interface Case {
  readonly label: string;
  readonly command: string;
  readonly args: string[];
  readonly options: MeasureOptions;
}

/**
 * Cases compared with each other (a ratio), measured in rounds: one run of each case per round,
 * after one uncounted run of each. A shared machine's speed drifts over seconds; interleaving
 * gives every case the same drift, so the ratio of the medians is steadier than with the cases
 * measured one after the other.
 */
function measureInterleaved(cases: readonly Case[], rounds: number): Measurement[] {
  for (const c of cases) runOnce(c.label, c.command, c.args, c.options);
  const samples: Measurement[][] = cases.map(() => []);
  for (let round = 0; round < rounds; round += 1) {
    cases.forEach((c, index) => samples[index].push(runOnce(c.label, c.command, c.args, c.options)));
  }
  return cases.map((c, index) => report(c.label, samples[index]));
}

/**
 * The baseline project, laid out as `cdktf init --template=typescript` does, in the bench's work
 * folder. Its source is kept as a fixture (bench/baseline/main.ts.fixture), not as project code:
 * it imports the provider from the package root on purpose.
 */
function conventionalProject(): string {
  const dir = path.join(WORK, "baseline");
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(ROOT, "bench", "baseline", "main.ts.fixture"), path.join(dir, "main.ts"));
  fs.copyFileSync(path.join(ROOT, "bench", "baseline", "tsconfig.json"), path.join(dir, "tsconfig.json"));
  return dir;
}

function clusterDir(name: string, spec: string): string {
  const dir = path.join(WORK, "clusters", name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.yaml`), spec);
  return dir;
}

const gates: { name: string; ok: boolean; detail: string }[] = [];
const gate = (name: string, ok: boolean, detail: string) => gates.push({ name, ok, detail });
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

function main(): void {
  fs.rmSync(WORK, { recursive: true, force: true });
  fs.mkdirSync(WORK, { recursive: true });
  const outdir = (name: string) => ({ CDKTF_OUTDIR: path.join(WORK, "out", name) });
  const synthArgs = ["-r", "./scripts/register.js", "main.ts"];

  console.log("Synth of the shipped stacks");
  const floor = measure("floor: node -e \"require('cdktf')\"", "node", ["-e", "require('cdktf')"]);
  const direct = measure("npm run synth (direct, no CLI)", "node", synthArgs, { env: outdir("direct"), warmup: true });
  const cli = measure("npx cdktf synth", "npx", ["cdktf", "synth", "--output", path.join(WORK, "out", "cli")], { runs: 1 });
  const baselineDir = conventionalProject();
  const conventional = measure("conventional cdktf project (ts-node, root imports)", "npx", ["ts-node", "main.ts"], {
    cwd: baselineDir,
    env: outdir("conventional"),
    runs: 1,
  });
  console.log(`  direct vs floor: ${ratio(direct.seconds, floor.seconds)}; CLI vs direct: ${ratio(cli.seconds, direct.seconds)}; ` +
    `conventional vs direct: ${ratio(conventional.seconds, direct.seconds)} time, ${ratio(conventional.peakMb, direct.peakMb)} memory`);
  gate("npm run synth >= 8x faster than a conventional project", conventional.seconds / direct.seconds >= 8,
    `${ratio(conventional.seconds, direct.seconds)}`);
  gate("npm run synth peak memory <= 400 MB", direct.peakMb <= 400, `${direct.peakMb.toFixed(0)} MB`);

  console.log("\nSynth as the cluster grows (one stack each)");
  const sizes = [
    ["five-server", fs.readFileSync(path.join(ROOT, "clusters", "five-server.yaml"), "utf8"), 5],
    ["cp3-w20", "controlPlane: {count: 3}\nworkers: {count: 20}\n", 24],
    ["cp5-w100", "controlPlane: {count: 5}\nworkers: {count: 100}\n", 106],
  ] as const;
  const figures = measureInterleaved(
    sizes.map(([name, spec, nodes]) => ({
      label: `${name} (${nodes} instances)`,
      command: "node",
      args: synthArgs,
      options: { env: { CLUSTERS_DIR: clusterDir(name, spec), ...outdir(name) } },
    })),
    GROWTH_ROUNDS,
  );
  const growth = sizes.map(([name, , nodes], index) => ({ name, nodes, ...figures[index] }));
  const [small, , large] = growth;
  const slopeMsPerNode = ((large.seconds - small.seconds) * 1000) / (large.nodes - small.nodes);
  console.log(`  cp5-w100 vs five-server: ${ratio(large.seconds, small.seconds)} time, ${ratio(large.peakMb, small.peakMb)} memory; ` +
    `slope ${slopeMsPerNode.toFixed(1)} ms per node`);
  gate("5 control-plane + 100 workers <= 1.5x five-server time", large.seconds <= 1.5 * small.seconds, ratio(large.seconds, small.seconds));
  // The first synth into an empty folder also creates every review file (about 1,000 here).
  const freshDir = path.join(WORK, "out", "fresh");
  const fresh = measure("cp5-w100 into an empty output folder", "node", synthArgs, {
    env: { CLUSTERS_DIR: path.join(WORK, "clusters", "cp5-w100"), CDKTF_OUTDIR: freshDir },
    before: () => fs.rmSync(freshDir, { recursive: true, force: true }),
  });
  console.log(`  empty folder vs re-synth: ${ratio(fresh.seconds, large.seconds)} (file creation); vs five-server: ${ratio(fresh.seconds, small.seconds)}`);

  console.log("\nTests");
  const unit = measure("npm test (type check + unit and snapshot tests)", "npm", ["test", "--silent"], { runs: 1, env: { CI: "true" } });
  // The jest binary itself, as `npm test` runs it (npx would add its own package lookup).
  const jestOnly = measure("jest only (unit and snapshot tests)", path.join(ROOT, "node_modules", ".bin", "jest"), ["--silent"], { runs: 3, env: { CI: "true" } });
  console.log(`  npm test vs direct synth: ${ratio(unit.seconds, direct.seconds)}; jest share: ${ratio(jestOnly.seconds, unit.seconds)}`);
  gate("unit and snapshot suite (jest) < 10 s", jestOnly.seconds < 10, `${jestOnly.seconds.toFixed(2)} s`);

  if (process.env.BENCH_INTEGRATION === "0") {
    console.log("\nFailover: skipped (BENCH_INTEGRATION=0)");
  } else {
    console.log("\nFailover (runs `npm run test:integration`, which writes bench/results/)");
    fs.rmSync(RESULTS, { recursive: true, force: true });
    const integration = measure("npm run test:integration", "npm", ["run", "--silent", "test:integration"], { runs: 1, env: { CI: "true" } });
    console.log(`  integration vs npm test: ${ratio(integration.seconds, unit.seconds)}`);
    printFailover();
  }

  console.log("\nGates");
  for (const g of gates) console.log(`  ${g.ok ? "PASS" : "FAIL"}  ${g.name}: ${g.detail}`);
  fs.rmSync(WORK, { recursive: true, force: true });
  if (gates.some((g) => !g.ok)) process.exitCode = 1;
}

interface LoadBalancerResult {
  lb: string;
  fault: string;
  requests: number;
  failed: number;
  failureWindowMs: number;
  markDownMs?: number | null;
}

interface EtcdResults {
  raft: { electionTimeoutMs: number };
  threeMembers: {
    leaderFailover: { writeUnavailableSeconds: number; acknowledgedWrites: number; lostAcknowledgedWrites: number };
    quorumLost: { writesAcknowledgedWhileQuorumLost: number; writeError: string; clearErrorAfterSeconds: number };
  };
  twoMembers: { writesAcknowledgedWithOneOfTwo: number; writeError: string; lostAcknowledgedWrites: number };
}

function readResult<T>(file: string): T | undefined {
  const target = path.join(RESULTS, file);
  return fs.existsSync(target) ? (JSON.parse(fs.readFileSync(target, "utf8")) as T) : undefined;
}

function printFailover(): void {
  const lb = readResult<{ method: { haproxyMarkDownLimitMs: number }; results: LoadBalancerResult[] }>("failover.json");
  if (!lb) {
    gate("load-balancer failover figures recorded", false, "bench/results/failover.json missing");
  } else {
    const budget = lb.method.haproxyMarkDownLimitMs;
    for (const r of lb.results) {
      const markDown = typeof r.markDownMs === "number" ? `, marked down ${(r.markDownMs / 1000).toFixed(2)} s = ${ratio(r.markDownMs, budget)} of the ${budget / 1000} s budget` : "";
      console.log(`  ${`${r.lb} ${r.fault}`.padEnd(20)} failed ${r.failed}/${r.requests} (${((100 * r.failed) / r.requests).toFixed(2)}%), ` +
        `failure window ${(r.failureWindowMs / 1000).toFixed(2)} s${markDown}`);
      if (r.lb === "haproxy" && typeof r.markDownMs === "number") {
        gate(`haproxy ${r.fault}: master out of rotation within ${budget / 1000} s`, r.markDownMs <= budget, `${(r.markDownMs / 1000).toFixed(2)} s`);
      }
      if (r.fault === "crash") gate(`${r.lb} crash: no request lost`, r.failed === 0, `${r.failed} failed`);
    }
  }
  const etcd = readResult<EtcdResults>("etcd-failover.json");
  if (!etcd) {
    gate("etcd failover figures recorded", false, "bench/results/etcd-failover.json missing");
    return;
  }
  const { leaderFailover, quorumLost } = etcd.threeMembers;
  const electionMs = etcd.raft.electionTimeoutMs;
  console.log(`  etcd 3 members, leader killed: writes unavailable ${leaderFailover.writeUnavailableSeconds.toFixed(2)} s = ` +
    `${ratio(leaderFailover.writeUnavailableSeconds * 1000, electionMs)} the election timeout; ` +
    `${leaderFailover.lostAcknowledgedWrites} of ${leaderFailover.acknowledgedWrites} acknowledged writes lost`);
  console.log(`  etcd 3 members, 2 killed: ${quorumLost.writesAcknowledgedWhileQuorumLost} writes acknowledged; ` +
    `"${quorumLost.writeError}" after ${quorumLost.clearErrorAfterSeconds.toFixed(2)} s`);
  console.log(`  etcd 2 members (five-server), 1 killed: ${etcd.twoMembers.writesAcknowledgedWithOneOfTwo} writes acknowledged; ` +
    `"${etcd.twoMembers.writeError}"`);
  gate("etcd leader failover loses no acknowledged write", leaderFailover.lostAcknowledgedWrites === 0, `${leaderFailover.lostAcknowledgedWrites} lost`);
  gate("etcd without quorum acknowledges no write", quorumLost.writesAcknowledgedWhileQuorumLost === 0 && etcd.twoMembers.writesAcknowledgedWithOneOfTwo === 0, "0 and 0");

  const five = fs.readFileSync(path.join(ROOT, "clusters", "five-server.yaml"), "utf8");
  const { spec } = validateSpec("clusters/five-server.yaml", "five-server", five);
  const election = leaderElectionReport(spec.leaderElection);
  console.log(`  leader election (15s/10s/2s): worst-case takeover ${election.worstCaseTakeoverSeconds} s = ` +
    `${ratio(election.worstCaseTakeoverSeconds * 1000, 15000)} the lease duration (${election.formula})`);
}

main();
