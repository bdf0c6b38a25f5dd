/**
 * Every load-balancer kind, by the name the spec uses. A Record over LoadBalancerKind: a kind
 * listed in ./kinds.ts without a module here, or a module missing a field, fails type checking.
 */
import type { Topology } from "../topology";
import type { NodeFile } from "../node-file";
import type { LoadBalancerKind } from "./kinds";
import type { LoadBalancerKindModule, NodeLoadBalancerKind } from "./module";
import { haproxy } from "./haproxy";
import { nginx } from "./nginx";

export type { LoadBalancerKind } from "./kinds";
export { HAPROXY_CONFIG_PATH } from "./haproxy";
export { NGINX_CONFIG_PATH } from "./nginx";

export const LOAD_BALANCERS: { readonly [K in LoadBalancerKind]: LoadBalancerKindModule<K> } = {
  haproxy,
  nginx,
};

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
