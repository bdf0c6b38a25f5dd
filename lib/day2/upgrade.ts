/**
 * `npm run upgrade -- <stack> --to 1.MINOR.PATCH`: kubeadm's documented upgrade over SSM Run
 * Command, one node at a time, then the spec's ClusterConfiguration (leader election, ...) brought
 * to the running control plane.
 * 1. The first control-plane node: kubeadm at the new version, `kubeadm upgrade apply`, drain,
 *    kubelet and kubectl, uncordon. 2. Every other control-plane node the same with `kubeadm
 *    upgrade node`. 3. Each worker: kubeadm, `kubeadm upgrade node`, drain, kubelet, uncordon.
 * 4. The rendered ClusterConfiguration is written to the kubeadm-config ConfigMap and each
 *    control-plane node's controller-manager and scheduler manifests are regenerated from it, one
 *    node at a time (what kubeadm's "reconfiguring a cluster" page describes).
 * 5. Nodes that were up to date before record their new digest.
 * Each control-plane step waits for the node to be Ready and etcd healthy before the next.
 * `--to` the running version runs steps 4-5 only: how ClusterConfiguration changes reach a cluster.
 */
import { KUBERNETES_MINORS } from "../spec";
import type { Topology } from "../topology";
import { buildTopology } from "../topology";
import { kubeadmDocuments } from "../render/kubeadm";
import { Document } from "yaml";
import { Day2Error } from "./cluster-ops";
import { Day2Context, etcdHasExactly, etcdRole, nodeReady, pickVia, preflight, waitFor } from "./health";
import { Action, ProcedureState, runProcedure } from "./procedure";
import { outOfDateNodes } from "./rotation";

export type UpgradeStep =
  | { readonly kind: "first-control-plane"; readonly node: string; readonly version: string }
  | { readonly kind: "control-plane"; readonly node: string; readonly version: string }
  | { readonly kind: "worker"; readonly node: string; readonly version: string }
  | { readonly kind: "configure"; readonly nodes: readonly string[] }
  | { readonly kind: "record"; readonly nodes: readonly string[] };

export interface UpgradeOptions {
  readonly to: string;
  readonly dryRun?: boolean;
  /** Configuration digests of the spec at the running version (nodes up to date before). */
  readonly digestsAt?: (version: string) => ReadonlyMap<string, string>;
}

const VERSION = /^1\.(\d+)\.(\d+)$/;

export function parseVersion(text: string, what: string): { minor: number; patch: number } {
  const match = VERSION.exec(text.replace(/^v/, ""));
  if (!match) throw new Day2Error(`${what}: ${JSON.stringify(text)}: expected a Kubernetes release 1.MINOR.PATCH, such as 1.35.1`);
  return { minor: Number(match[1]), patch: Number(match[2]) };
}

/** The ClusterConfiguration document the spec renders, as kubeadm reads it. */
export function renderedClusterConfiguration(topology: Topology): string {
  const documents = kubeadmDocuments(topology, topology.initNode);
  const cluster = documents.find((document) => document.kind === "ClusterConfiguration");
  if (!cluster) throw new Error("kubeadm: the init node's documents have no ClusterConfiguration");
  return new Document(cluster).toString({ lineWidth: 0 });
}

export async function planUpgrade(ctx: Day2Context, options: UpgradeOptions): Promise<UpgradeStep[]> {
  const { topology } = ctx;
  const to = parseVersion(options.to, "--to");
  if (to.minor < KUBERNETES_MINORS.min || to.minor > KUBERNETES_MINORS.max) {
    throw new Day2Error(`--to: ${options.to}: the blueprint supports 1.${KUBERNETES_MINORS.min} to 1.${KUBERNETES_MINORS.max}`);
  }
  if (topology.spec.kubernetesVersion !== options.to) {
    throw new Day2Error(
      `--to: ${options.to}: clusters/${topology.stack}.yaml says kubernetesVersion ${topology.spec.kubernetesVersion}; ` +
        `set it to "${options.to}" first (nodes created later install the spec's version), then run the upgrade`,
    );
  }
  const deployed = await ctx.ops.inventory();
  if (deployed.length === 0) throw new Day2Error(`${topology.stack}: no instance in the Terraform state; deploy the stack first`);
  const via = await pickVia(ctx, "control-plane");
  const runningText = (await ctx.ops.clusterVersion(via)).replace(/^v/, "");
  const running = parseVersion(runningText, "the running cluster's version");
  if (to.minor < running.minor || (to.minor === running.minor && to.patch < running.patch)) {
    throw new Day2Error(`--to: ${options.to}: the cluster runs ${runningText}; kubeadm does not downgrade`);
  }
  if (to.minor > running.minor + 1) {
    throw new Day2Error(
      `--to: ${options.to}: the cluster runs ${runningText}; kubeadm upgrades one minor at a time: upgrade to 1.${running.minor + 1}.x first ` +
        `(set kubernetesVersion to it, run the upgrade, then come back to ${options.to})`,
    );
  }
  const byName = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true });
  const present = (role: string) => deployed.filter((node) => node.role === role).map((node) => node.name).sort(byName);
  const controlPlane = present("control-plane");
  const workers = present("worker");
  const steps: UpgradeStep[] = [];
  if (runningText !== options.to) {
    const [first, ...others] = controlPlane.includes(topology.initNode.name)
      ? [topology.initNode.name, ...controlPlane.filter((name) => name !== topology.initNode.name)]
      : controlPlane;
    steps.push({ kind: "first-control-plane", node: first, version: options.to });
    for (const node of others) steps.push({ kind: "control-plane", node, version: options.to });
    for (const node of workers) steps.push({ kind: "worker", node, version: options.to });
  }
  steps.push({ kind: "configure", nodes: controlPlane });
  // Nodes whose recorded configuration was the spec's at the running version now run the spec's.
  const before = options.digestsAt?.(runningText);
  if (before && runningText !== options.to) {
    const staleBefore = new Set(outOfDateNodes(topology, before, deployed).map((node) => node.name));
    const upgraded = [...controlPlane, ...workers].filter((name) => !staleBefore.has(name));
    if (upgraded.length > 0) steps.push({ kind: "record", nodes: upgraded });
  }
  return steps;
}

function stepTitle(step: UpgradeStep): string {
  switch (step.kind) {
    case "first-control-plane":
      return `${step.node}: kubeadm upgrade apply v${step.version}`;
    case "control-plane":
      return `${step.node}: kubeadm upgrade node (control plane)`;
    case "worker":
      return `${step.node}: kubeadm upgrade node (worker)`;
    case "configure":
      return `ClusterConfiguration from the spec to the kubeadm-config ConfigMap and ${step.nodes.join(", ")}`;
    case "record":
      return `record the new configuration of ${step.nodes.join(", ")}`;
  }
}

export function upgradeActions(ctx: Day2Context, step: UpgradeStep): Action[] {
  const { ops, topology } = ctx;
  const actions: Action[] = [];
  const add = (title: string, run: () => Promise<void>) => actions.push({ title, run });
  const healthyAfter = async (node: string) => {
    const via = await pickVia(ctx, "control-plane");
    await waitFor(ctx, `${node} Ready`, () => nodeReady(ctx, via, node));
    const memberRole = etcdRole(topology);
    const members = (await ops.inventory()).filter((candidate) => candidate.role === memberRole).map((candidate) => candidate.name);
    const etcdVia = await pickVia(ctx, memberRole);
    await waitFor(ctx, "etcd healthy with every member", () => etcdHasExactly(ctx, etcdVia, members));
  };
  if (step.kind === "first-control-plane" || step.kind === "control-plane" || step.kind === "worker") {
    const { node, version } = step;
    // kubectl from another control-plane node when there is one (this one's API server restarts).
    const kubeVia = () => pickVia(ctx, "control-plane", node, { orSelf: true });
    add(`preflight: every etcd member healthy, every control-plane node Ready`, () => preflight(ctx));
    add(`install kubeadm ${version} on ${node}`, () => ops.installKubeadm(node, version));
    if (step.kind === "first-control-plane") {
      add(`kubeadm upgrade apply v${version} on ${node}`, async () => {
        if ((await ops.clusterVersion(node)).replace(/^v/, "") !== version) await ops.kubeadmUpgradeApply(node, version);
      });
    } else {
      add(`kubeadm upgrade node on ${node}`, () => ops.kubeadmUpgradeNode(node));
    }
    add(`drain ${node}`, async () => ops.drain(await kubeVia(), node));
    add(`install kubelet and kubectl ${version} on ${node}, restart the kubelet`, async () => {
      const status = (await ops.kubeNodes(await kubeVia())).find((candidate) => candidate.name === node);
      if (status?.kubeletVersion !== `v${version}`) await ops.installKubelet(node, version);
    });
    add(`uncordon ${node}`, async () => ops.uncordon(await kubeVia(), node));
    add(`wait for ${node} Ready and etcd healthy`, () => healthyAfter(node));
  } else if (step.kind === "configure") {
    const configuration = renderedClusterConfiguration(topology);
    add("preflight: every etcd member healthy, every control-plane node Ready", () => preflight(ctx));
    add("write the ClusterConfiguration to the kubeadm-config ConfigMap", async () =>
      ops.uploadClusterConfiguration(await pickVia(ctx, "control-plane"), configuration));
    for (const node of step.nodes) {
      add(`regenerate the controller-manager and scheduler manifests on ${node}`, () => ops.regenerateControlPlane(node, configuration));
      add(`wait for ${node} Ready and etcd healthy`, () => healthyAfter(node));
    }
  } else {
    add(`terraform apply -replace of the configuration records of ${step.nodes.join(", ")}`, () => ops.recordDigests(step.nodes));
  }
  return actions;
}

export async function upgrade(ctx: Day2Context, options: UpgradeOptions): Promise<ProcedureState<UpgradeStep>> {
  return runProcedure<UpgradeStep>({
    command: "upgrade",
    args: `${ctx.topology.stack} --to ${options.to}`,
    stateFile: `${ctx.stateDir}/${ctx.topology.stack}.upgrade.json`,
    plan: () => planUpgrade(ctx, options),
    title: stepTitle,
    actions: (step) => upgradeActions(ctx, step),
    dryRun: options.dryRun,
    log: ctx.log,
  });
}

/** The spec's topology at another Kubernetes version (for the digests nodes had before an upgrade). */
export function topologyAtVersion(topology: Topology, version: string): Topology {
  return buildTopology({ ...topology.spec, kubernetesVersion: version }, topology.warnings);
}
