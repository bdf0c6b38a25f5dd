/**
 * The whole synth: cluster specs -> validated specs -> topologies -> rendered files -> one cdktf
 * stack per spec, plus the review bundle. Every spec is validated before any stack is written.
 */
import * as fs from "fs";
import * as path from "path";
import { App } from "cdktf";
import { loadClusterSpecs } from "./load-specs";
import { buildTopology, Topology } from "./topology";
import { renderNodeFiles } from "./render/node-files";
import { renderUserData } from "./render/user-data";
import { cniPorts } from "./render/cni";
import { renderReviewBundle, RenderedNode } from "./review";
import { ClusterBackend, ClusterStack } from "./cluster-stack";
import { escapeTerraformTemplate } from "./constructs/cluster-nodes";
import type { ClusterSpec } from "./spec";

export interface SynthOptions {
  readonly clustersDir: string;
  /** cdktf output folder; the CLI passes CDKTF_OUTDIR. */
  readonly outdir?: string;
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
    nodes.set(node.name, { files: renderNodeFiles(topology, node), userData: renderUserData(topology, node) });
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
  const specs = loadClusterSpecs(options.clustersDir);
  const clusters = specs.map((loaded) => renderCluster(buildTopology(loaded.spec, loaded.warnings)));

  // cdktf creates only the last level of its output folder.
  if (options.outdir) fs.mkdirSync(options.outdir, { recursive: true });
  const app = new App({ outdir: options.outdir, skipValidation: false });
  for (const { topology, nodes } of clusters) {
    new ClusterStack(app, topology.stack, {
      topology,
      userData: (node) => {
        const rendered = nodes.get(node.name);
        if (!rendered) throw new Error(`no user-data rendered for ${node.name}`);
        return rendered.userData;
      },
      cniPorts: cniPorts(topology.spec.cni.plugin),
      backend: backendOf(topology.spec),
    });
  }
  app.synth();

  const reviewRoot = path.join(app.outdir, "review");
  fs.rmSync(reviewRoot, { recursive: true, force: true });
  for (const { topology, nodes } of clusters) {
    const asSynthesized = new Map(
      [...nodes].map(([name, node]) => [name, { ...node, userData: escapeTerraformTemplate(node.userData) }]),
    );
    for (const [relative, content] of renderReviewBundle(topology, asSynthesized)) {
      const target = path.join(reviewRoot, topology.stack, relative);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, content);
    }
  }
  return {
    outdir: app.outdir,
    stacks: specs.map((loaded) => ({ name: loaded.spec.name, file: loaded.file, warnings: loaded.warnings })),
  };
}
