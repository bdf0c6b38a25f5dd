/**
 * The whole synth: cluster specs -> validated specs -> topologies -> rendered files -> one cdktf
 * stack per spec, plus the review bundle. Every spec is validated before any stack is written.
 */
import * as fs from "fs";
import * as path from "path";
import { App, TerraformStack } from "cdktf";
import { loadClusterSpecs } from "./load-specs";
import { buildTopology, Topology } from "./topology";
import { renderCluster } from "./render/cluster";
import { renderReviewBundle } from "./review";
import { securityRulesOf } from "./security-rules";
import { POLICIES_FILE, renderPolicyReview } from "./review-policies";
import { ClusterBackend, ClusterStack } from "./cluster-stack";
import { escapeTerraformTemplate } from "./terraform-escape";
import type { ClusterSpec } from "./spec";
import { GuardLift, GuardLiftError } from "./day2/guard-lift";

export interface SynthOptions {
  readonly clustersDir: string;
  /** cdktf output folder; the CLI passes CDKTF_OUTDIR. */
  readonly outdir?: string;
  /** Guard rails lifted for the day-2 commands, by stack (lib/day2/guard-lift.ts). @default none */
  readonly guardLifts?: ReadonlyMap<string, GuardLift>;
  /**
   * Refuse every spec with an HA warning, as if each set `strict: true` (KUBEADM_HA_STRICT=1).
   * @default false: only specs with `strict: true` are strict
   */
  readonly strict?: boolean;
}

export interface SynthResult {
  readonly outdir: string;
  readonly stacks: { readonly name: string; readonly file: string; readonly warnings: readonly string[] }[];
}

/** The spec one scaling step synthesizes: the role's count set to the step's. */
function scaledSpec(spec: ClusterSpec, lift: GuardLift | undefined): ClusterSpec {
  const scale = lift?.scale;
  if (!scale) return spec;
  if (!Number.isInteger(scale.count) || scale.count < 1 || scale.count > 7) {
    throw new GuardLiftError(`KUBEADM_HA_SCALE: ${spec.name}/${scale.role}=${scale.count}: expected a count from 1 to 7`);
  }
  if (scale.role === "control-plane") return { ...spec, controlPlane: { ...spec.controlPlane, count: scale.count } };
  if (spec.etcd.topology !== "external") {
    throw new GuardLiftError(`KUBEADM_HA_SCALE: ${spec.name}/etcd: the stack's etcd is stacked; scale control-plane instead`);
  }
  return { ...spec, etcd: { ...spec.etcd, members: scale.count } };
}

function checkLifts(topologies: readonly Topology[], lifts: ReadonlyMap<string, GuardLift>): void {
  for (const [stack, lift] of lifts) {
    const topology = topologies.find((candidate) => candidate.stack === stack);
    if (!topology) {
      throw new GuardLiftError(`guard lift for stack ${JSON.stringify(stack)}: no such stack; known: ${topologies.map((t) => t.stack).join(", ")}`);
    }
    if (lift.replaceNode && !topology.nodes.some((node) => node.name === lift.replaceNode)) {
      throw new GuardLiftError(
        `KUBEADM_HA_REPLACE_NODE: ${stack}/${lift.replaceNode}: no such node; known: ${topology.nodes.map((node) => node.name).join(", ")}`,
      );
    }
  }
}

function backendOf(spec: ClusterSpec): ClusterBackend {
  const { state } = spec;
  if (state.backend === "local") return { kind: "local" };
  if (!state.bucket) throw new Error(`${spec.name}: state.bucket is required for the s3 backend`);
  return { kind: "s3", bucket: state.bucket, key: state.key, region: state.region };
}

export function synthesizeClusters(options: SynthOptions): SynthResult {
  const specs = loadClusterSpecs(options.clustersDir, { strict: options.strict });
  const lifts = options.guardLifts ?? new Map<string, GuardLift>();
  const topologies = specs.map((loaded) => buildTopology(scaledSpec(loaded.spec, lifts.get(loaded.spec.name)), loaded.warnings));
  checkLifts(topologies, lifts);
  const clusters = topologies.map((topology) => renderCluster(topology, lifts.get(topology.stack)));

  // cdktf creates only the last level of its output folder.
  if (options.outdir) fs.mkdirSync(options.outdir, { recursive: true });
  const app = new App({ outdir: options.outdir, skipValidation: false });
  withoutTokenCreationStacks(() => {
    for (const { topology, nodes, digests } of clusters) {
      new ClusterStack(app, topology.stack, {
        topology,
        userData: (node) => {
          const rendered = nodes.get(node.name);
          if (!rendered) throw new Error(`no user-data rendered for ${node.name}`);
          return rendered.userData;
        },
        backend: backendOf(topology.spec),
        nodeDigests: digests,
        guardLift: lifts.get(topology.stack),
      });
    }
    app.synth();
  });

  const bundle = new Map<string, string>();
  for (const { topology, nodes } of clusters) {
    const asSynthesized = new Map(
      // The launch template's user data is base64 in the JSON, with nothing for Terraform to read:
      // its review copy is the decoded text, unescaped.
      [...nodes].map(([name, node]) => [
        name,
        name === topology.workerAutoScaling?.template.name ? node : { ...node, userData: escapeTerraformTemplate(node.userData) },
      ]),
    );
    // The review shows the security-group rules and the key and role policies exactly as
    // synthesized, read back from the stack just written.
    // (`cdktf synth --hcl` writes cdk.tf instead: the stack gives its JSON form directly.)
    const stackJson = app.hclOutput
      ? (app.node.findChild(topology.stack) as TerraformStack).toTerraform()
      : JSON.parse(fs.readFileSync(path.join(app.outdir, "stacks", topology.stack, "cdk.tf.json"), "utf8"));
    for (const [relative, content] of renderReviewBundle(topology, asSynthesized, securityRulesOf(stackJson))) {
      bundle.set(path.join(topology.stack, relative), content);
    }
    bundle.set(path.join(topology.stack, POLICIES_FILE), renderPolicyReview(stackJson));
  }
  writeFolder(path.join(app.outdir, "review"), bundle);
  return {
    outdir: app.outdir,
    stacks: specs.map((loaded) => ({ name: loaded.spec.name, file: loaded.file, warnings: loaded.warnings })),
  };
}

/**
 * Runs `build` with V8's stack-trace formatting switched off. cdktf records a full creation stack
 * trace for every token it makes (some 50 per EC2 instance) only to decorate errors about
 * unresolvable tokens; formatting them is the largest per-node cost of a big cluster's synth.
 * Set KUBEADM_HA_TOKEN_STACKS=1 to keep them when debugging such an error.
 */
function withoutTokenCreationStacks(build: () => void): void {
  if (process.env.KUBEADM_HA_TOKEN_STACKS === "1") return build();
  const previous = Error.prepareStackTrace;
  const capture = Error.captureStackTrace;
  Error.prepareStackTrace = () => "";
  // cdktf captures into a plain `{ stack: "" }` object with an unlimited frame count; even unformatted,
  // collecting those frames is a per-token cost. Real errors (instances of Error) keep their stacks.
  Error.captureStackTrace = (target: object, below?: Function) => {
    if (target instanceof Error) capture(target, below);
  };
  try {
    build();
  } finally {
    Error.prepareStackTrace = previous;
    Error.captureStackTrace = capture;
  }
}

/**
 * Makes `root` hold exactly `files` (relative path -> text). Unchanged files are left alone and
 * only stale ones removed: rewriting thousands of review files on every synth costs more than the
 * rest of a large cluster's synth, and untouched files keep editors and watchers quiet.
 */
function writeFolder(root: string, files: ReadonlyMap<string, string>): void {
  const folders = new Set<string>();
  for (const [relative, content] of files) {
    const target = path.join(root, relative);
    const folder = path.dirname(target);
    if (!folders.has(folder)) {
      fs.mkdirSync(folder, { recursive: true });
      folders.add(folder);
    }
    if (!sameContent(target, content)) fs.writeFileSync(target, content);
  }
  removeStale(root, "", files);
}

function sameContent(file: string, content: string): boolean {
  try {
    return fs.readFileSync(file, "utf8") === content;
  } catch {
    return false;
  }
}

function removeStale(root: string, relative: string, keep: ReadonlyMap<string, string>): boolean {
  let empty = true;
  for (const entry of fs.readdirSync(path.join(root, relative), { withFileTypes: true })) {
    const child = path.join(relative, entry.name);
    if (entry.isDirectory() && removeStale(root, child, keep)) {
      fs.rmdirSync(path.join(root, child));
    } else if (!entry.isDirectory() && !keep.has(child)) {
      fs.rmSync(path.join(root, child));
    } else {
      empty = false;
    }
  }
  return empty;
}
