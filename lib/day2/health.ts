/**
 * Health gates shared by rotation, scaling and upgrades: the preflight that refuses to start when
 * any other etcd member or control-plane node is unhealthy (so no step can take down a second
 * member), and waits for a step's outcome.
 */
import type { NodeRole, Topology } from "../topology";
import { ClusterOps, Day2Error, DeployedNode, EtcdMemberStatus } from "./cluster-ops";

export interface Day2Context {
  /** The desired topology: the spec as it is in clusters/<stack>.yaml. */
  readonly topology: Topology;
  /** Configuration digest by node name, of the desired topology's plain synth. */
  readonly digests: ReadonlyMap<string, string>;
  readonly ops: ClusterOps;
  readonly log: (line: string) => void;
  /** Where progress files live (state/ beside the output folder). */
  readonly stateDir: string;
  /**
   * Digests of the spec with other control-plane / etcd counts (what nodes recorded before a
   * scaling step); without it, scaling leaves the role's other nodes for rotation.
   */
  readonly digestsWith?: (counts: MembershipCounts) => ReadonlyMap<string, string>;
  /** @default 1800 */
  readonly waitSeconds?: number;
  /** @default 10 */
  readonly pollSeconds?: number;
}

export interface MembershipCounts {
  readonly "control-plane": number;
  readonly etcd: number;
}

export function etcdRole(topology: Topology): NodeRole {
  return topology.etcd.topology === "stacked" ? "control-plane" : "etcd";
}

/**
 * A deployed node of `role` other than `exclude` to run commands on (`exclude` itself with orSelf
 * when it is the only one); throws when there is none.
 */
export async function pickVia(ctx: Day2Context, role: NodeRole, exclude?: string, options: { orSelf?: boolean } = {}): Promise<string> {
  const all = (await ctx.ops.inventory()).filter((node) => node.role === role);
  const others = all.filter((node) => node.name !== exclude);
  const nodes = others.length === 0 && options.orSelf ? all : others;
  if (nodes.length === 0) throw new Day2Error(`no ${role} node${exclude ? ` other than ${exclude}` : ""} to run commands on`);
  return nodes.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }))[0].name;
}

function memberProblems(members: readonly EtcdMemberStatus[], expected: readonly DeployedNode[], target?: string): string[] {
  const problems: string[] = [];
  for (const member of members) {
    if (member.name === target) continue;
    const name = member.name || `(unstarted member ${member.id} at ${member.peerUrl})`;
    if (!member.started) problems.push(`etcd member ${name} has not started`);
    else if (member.learner) problems.push(`etcd member ${name} is still a learner`);
    else if (!member.healthy) problems.push(`etcd member ${name} is unhealthy`);
  }
  const names = new Set(members.map((member) => member.name));
  for (const node of expected) {
    if (node.name !== target && !names.has(node.name)) problems.push(`${node.name} is not an etcd member`);
  }
  for (const member of members) {
    if (member.name && member.name !== target && !expected.some((node) => node.name === member.name)) {
      problems.push(`etcd member ${member.name} has no instance in the state`);
    }
  }
  return problems;
}

/**
 * Every etcd member healthy and every control-plane node Ready, except `target` (the node the
 * step replaces or removes, which may already be dead). Refuses with every problem named.
 */
export async function preflight(ctx: Day2Context, target?: string): Promise<void> {
  const inventory = await ctx.ops.inventory();
  const role = etcdRole(ctx.topology);
  const holders = inventory.filter((node) => node.role === role);
  const problems: string[] = [];
  const etcdVia = holders.find((node) => node.name !== target)?.name;
  if (!etcdVia) {
    problems.push(`no etcd member other than ${target} remains: replacing the only member loses the cluster's data (restore from a snapshot instead)`);
  } else {
    problems.push(...memberProblems(await ctx.ops.etcdMembers(etcdVia), holders, target));
  }
  const controlPlane = inventory.filter((node) => node.role === "control-plane");
  const kubeVia = controlPlane.find((node) => node.name !== target)?.name;
  if (kubeVia) {
    const kube = await ctx.ops.kubeNodes(kubeVia);
    for (const node of controlPlane) {
      if (node.name === target) continue;
      const status = kube.find((candidate) => candidate.name === node.name);
      if (!status) problems.push(`control-plane node ${node.name} is not registered in Kubernetes`);
      else if (!status.ready) problems.push(`control-plane node ${node.name} is not Ready`);
    }
  }
  if (problems.length > 0) {
    throw new Day2Error(`preflight refused${target ? ` (before ${target})` : ""}: ${problems.join("; ")}. Nothing was changed by this step; make the cluster healthy first (docs/operations.md)`);
  }
}

/** Polls `check` until it returns true; throws naming `what` after waitSeconds. */
export async function waitFor(ctx: Day2Context, what: string, check: () => Promise<boolean>): Promise<void> {
  const limit = ctx.waitSeconds ?? 1800;
  const poll = ctx.pollSeconds ?? 10;
  for (let waited = 0; ; waited += poll) {
    if (await check().catch(() => false)) return;
    if (waited >= limit) throw new Day2Error(`gave up waiting for ${what} after ${limit}s; run the command again to resume once it is fixed`);
    await ctx.ops.sleep(poll);
  }
}

/** etcd has exactly `names` as started, voting, healthy members. */
export async function etcdHasExactly(ctx: Day2Context, via: string, names: readonly string[]): Promise<boolean> {
  const members = await ctx.ops.etcdMembers(via);
  return (
    members.length === names.length &&
    names.every((name) => members.some((member) => member.name === name && member.started && !member.learner && member.healthy))
  );
}

export async function nodeReady(ctx: Day2Context, via: string, node: string): Promise<boolean> {
  return (await ctx.ops.kubeNodes(via)).some((status) => status.name === node && status.ready);
}
