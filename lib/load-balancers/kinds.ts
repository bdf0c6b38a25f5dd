/**
 * The load-balancer kinds the spec accepts. The registry (./registry.ts) is a
 * Record<LoadBalancerKind, ...>, so a name added here without its module fails type checking.
 */
export const LOAD_BALANCER_KINDS = ["haproxy", "nginx"] as const;

export type LoadBalancerKind = (typeof LOAD_BALANCER_KINDS)[number];
