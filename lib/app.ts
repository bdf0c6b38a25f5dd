/**
 * The whole synth: cluster specs -> validated specs -> topologies -> rendered files -> one cdktf
 * stack per spec, plus the review bundle. Every spec is validated before any stack is written.
 */
import * as fs from "fs";
import * as path from "path";
import { App, TerraformStack } from "cdktf";
import { loadClusterSpecs } from "./load-specs";
import { buildTopology, Topology } from "./topology";
import { renderNodeFiles } from "./render/node-files";
import { renderUserData } from "./render/user-data";
import { renderReviewBundle, RenderedNode } from "./review";
import { securityRulesOf } from "./security-rules";
import { POLICIES_FILE, renderPolicyReview } from "./review-policies";
import { ClusterBackend, ClusterStack } from "./cluster-stack";
import { escapeTerraformTemplate } from "./terraform-escape";
import type { ClusterSpec } from "./spec";

export interface SynthOptions {
  readonly clustersDir: string;
  /** cdktf output folder; the CLI passes CDKTF_OUTDIR. */
  readonly outdir?: string;
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

export interface RenderedCluster {
  readonly topology: Topology;
  readonly nodes: Map<string, RenderedNode>;
}

/**
 * Renders every node's files and user-data once; the stack and the review bundle share the result.
 * The review copy of the user-data is the text exactly as it stands in the Terraform JSON, where
 * Terraform's template markers are escaped ("$${" for "${").
 */
export function renderCluster(topology: Topology): RenderedCluster {
  const nodes = new Map<string, RenderedNode>();
  for (const node of topology.nodes) {
    const files = renderNodeFiles(topology, node);
    nodes.set(node.name, { files, userData: renderUserData(topology, node, files) });
  }
  return { topology, nodes };
}

function backendOf(spec: ClusterSpec): ClusterBackend {
  const { state } = spec;
  if (state.backend === "local") return { kind: "local" };
  if (!state.bucket) throw new Error(`${spec.name}: state.bucket is required for the s3 backend`);
  return { kind: "s3", bucket: state.bucket, key: state.key, region: state.region };
}

export function synthesizeClusters(options: SynthOptions): SynthResult {
  const specs = loadClusterSpecs(options.clustersDir, { strict: options.strict });
  const clusters = specs.map((loaded) => renderCluster(buildTopology(loaded.spec, loaded.warnings)));

  // cdktf creates only the last level of its output folder.
  if (options.outdir) fs.mkdirSync(options.outdir, { recursive: true });
  const app = new App({ outdir: options.outdir, skipValidation: false });
  withoutTokenCreationStacks(() => {
    for (const { topology, nodes } of clusters) {
      new ClusterStack(app, topology.stack, {
        topology,
        userData: (node) => {
          const rendered = nodes.get(node.name);
          if (!rendered) throw new Error(`no user-data rendered for ${node.name}`);
          return rendered.userData;
        },
        backend: backendOf(topology.spec),
      });
    }
    app.synth();
  });

  const bundle = new Map<string, string>();
  for (const { topology, nodes } of clusters) {
    const asSynthesized = new Map(
      [...nodes].map(([name, node]) => [name, { ...node, userData: escapeTerraformTemplate(node.userData) }]),
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
