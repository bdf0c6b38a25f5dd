/**
 * How Terraform may touch a node of each role after creation: one table, so the per-role guard
 * settings move together (and can join a role profile table as they stand).
 *
 * Control-plane and etcd nodes hold etcd members: an ordinary apply must never destroy, replace
 * or stop one (prevent_destroy; every attribute whose change would replace or stop the instance
 * ignored). They change only through `npm run rotate`, one node at a time, which lifts the guard
 * for that one node (lib/day2/guard-lift.ts). Workers hold no member, but an in-place change to
 * all of them (instance type) would stop them all at once, so they rotate too. The load balancer
 * is stateless and its configuration lists the control-plane nodes, so Terraform replaces it when
 * its user data changes.
 */
import type { NodeRole } from "../topology";

export interface RoleGuard {
  /** lifecycle.prevent_destroy on the instance: only a lifted guard lets Terraform replace or destroy it. */
  readonly preventDestroy: boolean;
  /** Instance attributes Terraform leaves alone after creation (lifecycle.ignore_changes). */
  readonly ignoreChanges: readonly string[];
  /** A changed user data replaces the instance on an ordinary apply. */
  readonly replaceOnUserDataChange: boolean;
}

/**
 * ami, user_data, instance_type, root volume: what a rotation brings to a node. ebs_optimized
 * too: the provider changes it by stopping the instance (new and replaced nodes get it).
 */
const ROTATED_ATTRIBUTES = ["ami", "user_data", "instance_type", "root_block_device", "ebs_optimized"] as const;

export const ROLE_GUARDS: Readonly<Record<NodeRole, RoleGuard>> = {
  "control-plane": { preventDestroy: true, ignoreChanges: ROTATED_ATTRIBUTES, replaceOnUserDataChange: false },
  etcd: { preventDestroy: true, ignoreChanges: ROTATED_ATTRIBUTES, replaceOnUserDataChange: false },
  worker: { preventDestroy: false, ignoreChanges: ROTATED_ATTRIBUTES, replaceOnUserDataChange: false },
  "load-balancer": { preventDestroy: false, ignoreChanges: ["ami", "ebs_optimized"], replaceOnUserDataChange: true },
};

/** Roles whose nodes are etcd members (stacked: control plane; external: etcd). */
export function holdsEtcdMember(role: NodeRole, etcdTopology: "stacked" | "external"): boolean {
  return etcdTopology === "stacked" ? role === "control-plane" : role === "etcd";
}
