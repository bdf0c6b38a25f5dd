/**
 * `npm run rotate`: brings the running cluster to the spec one node at a time.
 * 1. Scaling (controlPlane.count, external etcd.members): one member per step. Shrinking removes
 *    the highest-numbered node's etcd member (and Kubernetes node) before Terraform destroys its
 *    instance; growing adds one node (an external member first announced as a learner, then
 *    promoted once it has caught up; kubeadm does the same for stacked members).
 * 2. Rotation: each out-of-date node (its recorded digest differs from this synth's) is drained,
 *    loses its etcd member, is replaced by `terraform apply -replace` with its guard lifted for it
 *    alone, and must be back (Ready, etcd healthy with its full membership) before the next.
 * Every step starts with the health preflight, which tolerates only the step's own node being down.
 */
import { etcdFaultTolerance } from "../quorum";
import type { ClusterNode, NodeRole, Topology } from "../topology";
import { Day2Error, DeployedNode } from "./cluster-ops";
import { Day2Context, etcdHasExactly, etcdRole, MembershipCounts, nodeReady, pickVia, preflight, waitFor } from "./health";
import { Action, ProcedureState, runProcedure } from "./procedure";

export type RotationStep =
  | { readonly kind: "replace"; readonly node: string; readonly role: NodeRole }
  | { readonly kind: "grow"; readonly role: "control-plane" | "etcd"; readonly node: string; readonly count: number }
  | { readonly kind: "shrink"; readonly role: "control-plane" | "etcd"; readonly node: string; readonly count: number };

export interface RotateOptions {
  readonly role?: string;
  readonly node?: string;
  readonly dryRun?: boolean;
  /** Allows shrinking etcd to a member count that tolerates no failure. */
  readonly allowZeroTolerance?: boolean;
}

const ROTATABLE_ROLES: readonly NodeRole[] = ["etcd", "control-plane", "worker"];
const byOrdinal = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name, "en", { numeric: true });

/** Nodes whose recorded configuration differs from this synth's (load balancers are Terraform's own). */
export function outOfDateNodes(topology: Topology, digests: ReadonlyMap<string, string>, deployed: readonly DeployedNode[]): ClusterNode[] {
  return topology.nodes.filter((node) => {
    if (node.role === "load-balancer") return false;
    const found = deployed.find((candidate) => candidate.name === node.name);
    return found !== undefined && found.recordedDigest !== digests.get(node.name);
  });
}

export async function planRotation(ctx: Day2Context, options: RotateOptions): Promise<RotationStep[]> {
  const { topology } = ctx;
  if (options.role !== undefined && !ROTATABLE_ROLES.includes(options.role as NodeRole)) {
    const hint = options.role === "load-balancer" ? " (Terraform replaces the load balancer itself when its configuration changes)" : "";
    throw new Day2Error(`--role: ${JSON.stringify(options.role)}: expected one of ${ROTATABLE_ROLES.join(", ")}${hint}`);
  }
  if (options.role === "etcd" && topology.etcd.topology === "stacked") {
    throw new Day2Error(`--role: "etcd": ${topology.stack} runs stacked etcd on the control-plane nodes; use --role control-plane`);
  }
  const deployed = await ctx.ops.inventory();
  if (deployed.length === 0) throw new Day2Error(`${topology.stack}: no instance in the Terraform state; deploy the stack first`);
  if (options.node !== undefined) {
    const node = topology.nodes.find((candidate) => candidate.name === options.node);
    if (!node) throw new Day2Error(`--node: ${JSON.stringify(options.node)}: no such node in ${topology.stack}; known: ${topology.nodes.map((n) => n.name).join(", ")}`);
    if (node.role === "load-balancer") throw new Day2Error(`--node: ${node.name}: Terraform replaces the load balancer itself (terraform apply -replace is safe for it)`);
    if (!deployed.some((candidate) => candidate.name === node.name)) {
      throw new Day2Error(`--node: ${node.name} is not deployed yet; run rotate without --node to add it`);
    }
    if (options.role !== undefined && node.role !== options.role) throw new Day2Error(`--node: ${node.name} is a ${node.role} node, not ${options.role}`);
    return [{ kind: "replace", node: node.name, role: node.role }];
  }

  const steps: RotationStep[] = [];
  const membershipRoles: ("control-plane" | "etcd")[] = topology.etcd.topology === "external" ? ["etcd", "control-plane"] : ["control-plane"];
  for (const role of membershipRoles) {
    if (options.role !== undefined && options.role !== role) continue;
    const have = deployed.filter((node) => node.role === role).length;
    const want = role === "etcd" ? topology.etcdNodes.length : topology.controlPlane.length;
    const holdsEtcd = role === etcdRole(topology);
    for (let count = have; count > want; count--) {
      const next = count - 1;
      if (next < 1) throw new Day2Error(`${role}: cannot go below 1 node`);
      if (holdsEtcd && etcdFaultTolerance(next) === 0 && etcdFaultTolerance(count) > 0 && !options.allowZeroTolerance) {
        throw new Day2Error(
          `${role}: shrinking from ${count} to ${next} etcd members leaves a cluster that tolerates no failure (quorum ${Math.floor(next / 2) + 1} of ${next}); ` +
            `refused. Keep ${count}, or pass --allow-zero-tolerance if you accept that`,
        );
      }
      steps.push({ kind: "shrink", role, node: `${role}-${count}`, count: next });
    }
    const nodes = role === "etcd" ? topology.etcdNodes : topology.controlPlane;
    for (let count = have + 1; count <= want; count++) steps.push({ kind: "grow", role, node: nodes[count - 1].name, count });
  }

  // A member's files list the membership, which etcd and kubeadm read only at first boot: a node
  // that was current before the scaling is current after it (the scaling step records it so).
  const scaledRoles = new Set(steps.map((step) => step.role));
  const before = scaledRoles.size > 0 ? ctx.digestsWith?.(deployedCounts(deployed)) : undefined;
  const stale = outOfDateNodes(topology, ctx.digests, deployed)
    .filter((node) => !(before && scaledRoles.has(node.role as "control-plane" | "etcd") && deployed.find((d) => d.name === node.name)?.recordedDigest === before.get(node.name)))
    .filter((node) => options.role === undefined || node.role === options.role);
  const order = (node: ClusterNode) => ROTATABLE_ROLES.indexOf(node.role) * 2 + (node.name === topology.initNode.name ? 1 : 0);
  stale.sort((a, b) => order(a) - order(b) || byOrdinal(a, b));
  for (const node of stale) steps.push({ kind: "replace", node: node.name, role: node.role });
  return steps;
}

/** Control-plane and etcd node counts in the state. */
export function deployedCounts(deployed: readonly DeployedNode[]): MembershipCounts {
  return {
    "control-plane": deployed.filter((node) => node.role === "control-plane").length,
    etcd: deployed.filter((node) => node.role === "etcd").length,
  };
}

function stepTitle(step: RotationStep): string {
  switch (step.kind) {
    case "replace":
      return `replace ${step.role} node ${step.node}`;
    case "grow":
      return `add ${step.node} (${step.role} to ${step.count})`;
    case "shrink":
      return `remove ${step.node} (${step.role} to ${step.count})`;
  }
}

function peerUrlOf(topology: Topology, node: string): string {
  const member = topology.etcd.members.find((candidate) => candidate.name === node);
  if (!member) throw new Day2Error(`${node} is not an etcd member of the spec`);
  return member.peerUrl;
}

/** The actions of one step; each checks before it acts, so a resumed run can repeat it. */
export function rotationActions(ctx: Day2Context, step: RotationStep): Action[] {
  const { ops, topology } = ctx;
  const memberRole = etcdRole(topology);
  const holdsEtcd = step.role === memberRole;
  const isKube = step.role === "control-plane" || step.role === "worker";
  const target = step.node;
  const kubeVia = () => pickVia(ctx, "control-plane", target, { orSelf: true });
  const etcdVia = () => pickVia(ctx, memberRole, target);
  const actions: Action[] = [];
  const add = (title: string, run: () => Promise<void>) => actions.push({ title, run });
  const membersAfter = async (change: "same" | "without" | "with") => {
    const names = (await ops.inventory()).filter((node) => node.role === memberRole).map((node) => node.name);
    const rest = names.filter((name) => name !== target);
    return change === "without" ? rest : [...rest, target];
  };

  const removeKubeNode = () => {
    add(`drain ${target}`, async () => {
      const via = await kubeVia();
      if ((await ops.kubeNodes(via)).some((node) => node.name === target)) await ops.drain(via, target);
    });
  };
  const removeMember = () => {
    if (memberRole === "control-plane") {
      add(`remove ${target}'s etcd member (kubeadm reset on the node; etcdctl member remove if it is unreachable)`, async () => {
        const via = await etcdVia();
        const present = async () => (await ops.etcdMembers(via)).find((member) => member.name === target);
        if (!(await present())) return;
        await ops.kubeadmReset(target).catch((error: Error) => ctx.log(`    kubeadm reset on ${target} failed (${error.message}); removing the member directly`));
        const left = await present();
        if (left) await ops.etcdMemberRemove(via, left.id);
      });
    } else {
      add(`remove ${target}'s etcd member (etcdctl member remove), then stop its etcd`, async () => {
        const via = await etcdVia();
        const peerUrl = topology.etcd.members.find((candidate) => candidate.name === target)?.peerUrl;
        const member = (await ops.etcdMembers(via)).find((candidate) => candidate.name === target || candidate.peerUrl === peerUrl);
        if (member) await ops.etcdMemberRemove(via, member.id);
        await ops.stopEtcd(target).catch(() => ctx.log(`    ${target}'s etcd did not answer (already gone)`));
      });
    }
    add(`wait for etcd to run without ${target}`, async () => {
      const via = await etcdVia();
      const names = await membersAfter("without");
      await waitFor(ctx, `etcd members ${names.join(", ")} (without ${target})`, () => etcdHasExactly(ctx, via, names));
    });
  };
  const announceLearner = () => {
    add(`announce ${target} to etcd as a learner (etcdctl member add --learner)`, async () => {
      const via = await etcdVia();
      const peerUrl = peerUrlOf(topology, target);
      if (!(await ops.etcdMembers(via)).some((member) => member.peerUrl === peerUrl)) await ops.etcdMemberAdd(via, target, peerUrl);
    });
  };
  const awaitMember = () => {
    if (memberRole === "etcd") {
      add(`wait for learner ${target} to start, then promote it`, async () => {
        const via = await etcdVia();
        const peerUrl = peerUrlOf(topology, target);
        await waitFor(ctx, `${target} to start as a learner`, async () =>
          (await ops.etcdMembers(via)).some((member) => member.peerUrl === peerUrl && member.started));
        // Promotion fails until the learner has caught up with the leader's log: retried.
        await waitFor(ctx, `${target} to be promoted`, async () => {
          const member = (await ops.etcdMembers(via)).find((candidate) => candidate.peerUrl === peerUrl);
          if (!member) return false;
          if (member.learner) await ops.etcdMemberPromote(via, member.id);
          return true;
        });
      });
    }
    add(`wait for etcd to be healthy with ${target}`, async () => {
      const via = await etcdVia();
      const names = await membersAfter("with");
      await waitFor(ctx, `etcd members ${names.join(", ")} all healthy`, () => etcdHasExactly(ctx, via, names));
    });
  };

  // After a scaling apply: the role's other nodes that were current at the previous count.
  const recordScaled = (role: "control-plane" | "etcd", countBefore: number) => {
    add(`record the configuration of the other ${role} nodes that were current before`, async () => {
      const deployed = await ops.inventory();
      const counts = { ...deployedCounts(deployed), [role]: countBefore };
      const before = ctx.digestsWith?.(counts);
      if (!before) return;
      const current = deployed
        .filter((node) => node.role === role && node.name !== target && node.recordedDigest === before.get(node.name))
        .map((node) => node.name);
      if (current.length > 0) await ops.recordDigests(current);
    });
  };

  add(`preflight: every etcd member healthy, every control-plane node Ready${step.kind === "grow" ? "" : ` (except ${target})`}`, () =>
    preflight(ctx, step.kind === "grow" ? undefined : target));

  if (step.kind === "replace") {
    if (holdsEtcd && (ctx.topology.etcd.members.length < 2)) {
      throw new Day2Error(`${target}: the only etcd member; replacing it loses the cluster's data (grow the cluster first, or restore from a snapshot)`);
    }
    if (isKube) removeKubeNode();
    if (holdsEtcd) removeMember();
    if (isKube) {
      add(`delete Kubernetes node ${target}`, async () => {
        const via = await kubeVia();
        if ((await ops.kubeNodes(via)).some((node) => node.name === target)) await ops.deleteNode(via, target);
      });
    }
    if (memberRole === "etcd" && holdsEtcd) announceLearner();
    add(`synthesize with ${target}'s guard lifted`, () => ops.synth({ replaceNode: target }));
    add(`terraform apply -replace ${target} (targeted: the instance and its configuration record)`, () => ops.replaceInstance(target));
    if (holdsEtcd) awaitMember();
    if (isKube) {
      add(`wait for ${target} to be Ready`, async () => {
        const via = await kubeVia();
        await waitFor(ctx, `${target} to join and be Ready`, () => nodeReady(ctx, via, target));
      });
      add(`uncordon ${target}`, async () => ops.uncordon(await kubeVia(), target));
    }
  } else if (step.kind === "shrink") {
    if (isKube) removeKubeNode();
    if (holdsEtcd) removeMember();
    if (isKube) {
      add(`delete Kubernetes node ${target}`, async () => {
        const via = await kubeVia();
        if ((await ops.kubeNodes(via)).some((node) => node.name === target)) await ops.deleteNode(via, target);
      });
    }
    add(`synthesize with ${step.role} at ${step.count}`, () => ops.synth({ scale: { role: step.role, count: step.count } }));
    add(`terraform apply: destroy ${target}'s instance (the load balancer follows the new control-plane list)`, () => ops.applyScale());
    recordScaled(step.role, step.count + 1);
  } else {
    if (memberRole === "etcd" && holdsEtcd) announceLearner();
    add(`synthesize with ${step.role} at ${step.count}`, () => ops.synth({ scale: { role: step.role, count: step.count } }));
    add(`terraform apply: create ${target} (the load balancer follows the new control-plane list)`, () => ops.applyScale());
    if (holdsEtcd) awaitMember();
    if (isKube) {
      add(`wait for ${target} to be Ready`, async () => {
        const via = await kubeVia();
        await waitFor(ctx, `${target} to join and be Ready`, () => nodeReady(ctx, via, target));
      });
    }
    recordScaled(step.role, step.count - 1);
  }
  add("synthesize with every guard in place", () => ops.synth());
  return actions;
}

export function rotateStateFile(ctx: Day2Context): string {
  return `${ctx.stateDir}/${ctx.topology.stack}.rotate.json`;
}

export async function rotate(ctx: Day2Context, options: RotateOptions): Promise<ProcedureState<RotationStep>> {
  const args = [ctx.topology.stack, options.role && `--role ${options.role}`, options.node && `--node ${options.node}`, options.allowZeroTolerance && "--allow-zero-tolerance"]
    .filter(Boolean)
    .join(" ");
  return runProcedure<RotationStep>({
    command: "rotate",
    args,
    stateFile: rotateStateFile(ctx),
    plan: () => planRotation(ctx, options),
    title: stepTitle,
    actions: (step) => rotationActions(ctx, step),
    dryRun: options.dryRun,
    log: ctx.log,
  });
}
