/**
 * Every load-balancer kind, by the name the spec uses: the spec's enum, the schema and every
 * lookup come from this one table. An entry must be a complete LoadBalancerKindModule whose
 * `kind` is its key, or type checking fails. A new kind is its module plus its line here.
 */
import type { Topology } from "../topology";
import type { NodeFile } from "../node-file";
import type { LoadBalancerKindModule, NodeLoadBalancerKind } from "./module";
import { haproxy } from "./haproxy";
import { nginx } from "./nginx";
import { nlb } from "./nlb";

export { HAPROXY_CONFIG_PATH } from "./haproxy";
export { NGINX_CONFIG_PATH } from "./nginx";

const MODULES = { haproxy, nginx, nlb };

export type LoadBalancerKind = keyof typeof MODULES;

export const LOAD_BALANCERS: { readonly [K in LoadBalancerKind]: (typeof MODULES)[K] & LoadBalancerKindModule<K> } = MODULES;

/** The kinds AWS runs (no load-balancer node); lib/constructs/ has one construct per kind. */
export type ManagedLoadBalancerKindName = {
  [K in LoadBalancerKind]: (typeof LOAD_BALANCERS)[K] extends { readonly runsOnNode: false } ? K : never;
}[LoadBalancerKind];

/** The spec's accepted values, in registry order. */
export const LOAD_BALANCER_KINDS = Object.keys(LOAD_BALANCERS) as [LoadBalancerKind, ...LoadBalancerKind[]];

export function loadBalancerKind(kind: LoadBalancerKind): LoadBalancerKindModule {
  return LOAD_BALANCERS[kind];
}

/** The kind of a topology that has a load-balancer node; throws for a managed kind. */
export function nodeLoadBalancerKind(topology: Topology): NodeLoadBalancerKind {
  const module = topology.loadBalancerKind;
  if (!module.runsOnNode) throw new Error(`load balancer: ${module.kind} runs on no node of stack ${topology.stack}`);
  return module;
}

/** The load-balancer node's files, for the kind the spec picks. */
export function renderLoadBalancerFiles(topology: Topology): NodeFile[] {
  return nodeLoadBalancerKind(topology).renderFiles(topology);
}
