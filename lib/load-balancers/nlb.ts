/**
 * `loadBalancer.kind: nlb`: an internal AWS Network Load Balancer in front of the API servers,
 * with a node in every zone's private subnet and cross-zone routing, so no single instance or
 * zone carries the endpoint. Nothing runs on a node; lib/constructs/api-network-load-balancer.ts
 * builds it. This module holds what the rest of the blueprint needs to know about it: the
 * endpoint name, the health-check settings and the failover figure they give, validation,
 * warnings and the failure analysis.
 *
 * Hairpin (kubeadm#1685): with instance targets an NLB preserves client IPs by default, so a
 * control-plane node whose request the NLB sends back to itself sees a packet from its own
 * address, answers it locally, and the connection times out. The target group turns client IP
 * preservation off: every node, the control-plane ones included, then reaches the API through
 * the NLB the same way, with no per-node kubeconfig rewriting. The price is that the API server
 * sees the NLB's private addresses as client IPs (audit logs name the user, not the node IP), and
 * the control-plane security group admits the NLB's security group instead of the clients'.
 */
import { ANYWHERE_IPV4, mustParseCidr, overlaps, parseCidr } from "../cidr";
import type { ClusterSpec } from "../spec";
import type { Topology } from "../topology";
import type { SpecIssue } from "../spec-issue";
import { API_READINESS_CHECK_PATH, ManagedLoadBalancerKind } from "./module";

/** The NLB's settings; every value lands in the target group and in the failover figure. */
export const NLB_TUNING = {
  /** Seconds between health checks: the fastest NLB allows. */
  healthCheckIntervalSeconds: 5,
  /** Seconds a check may take: the shortest NLB allows; /readyz without etcd answers in milliseconds. */
  healthCheckTimeoutSeconds: 2,
  /** Failed checks before a target is unhealthy: the fewest NLB allows. */
  unhealthyThreshold: 2,
  /** Good checks before a target is healthy again: the fewest NLB allows. */
  healthyThreshold: 2,
  /**
   * Seconds a deregistering target (a control-plane instance being replaced) keeps its
   * connections before the NLB closes them (connection_termination): short, so clients reconnect
   * to another master instead of waiting on one that is going away. NLB's default is 300.
   */
  deregistrationDelaySeconds: 20,
} as const;

/**
 * Worst case from a master failing to the NLB marking it unhealthy: the failure lands just after
 * a good check, then `unhealthyThreshold` checks every interval must fail, the last one by timing
 * out (a frozen or black-holed master; a crashed one refuses at once). AWS's propagation of the
 * new state to every NLB node comes on top and is not published as a figure.
 */
export function nlbWorstCaseMarkDownSeconds(tuning: typeof NLB_TUNING = NLB_TUNING): number {
  return tuning.unhealthyThreshold * tuning.healthCheckIntervalSeconds + tuning.healthCheckTimeoutSeconds;
}

/** A master whose API server refuses connections (crashed): every check fails at once. */
export function nlbCrashMarkDownSeconds(tuning: typeof NLB_TUNING = NLB_TUNING): number {
  return tuning.unhealthyThreshold * tuning.healthCheckIntervalSeconds;
}

/** The private hosted zone the stack creates and associates with its VPC (.internal is reserved for private use). */
export function nlbPrivateZoneName(stack: string): string {
  return `${stack}.internal`;
}

/** controlPlaneEndpoint's host: a name in the private zone, known at synth, aliased to the NLB. */
export function nlbEndpointName(stack: string): string {
  return `api.${nlbPrivateZoneName(stack)}`;
}

/** Load balancer and target group names: at most 32 characters, so the stack name may have 24. */
export function nlbResourceName(stack: string, scheme: "internal" | "public"): string {
  return scheme === "internal" ? `${stack}-api` : `${stack}-api-pub`;
}
const NLB_NAME_LIMIT = 32;

/** The target group's health check: the API server's readiness, etcd left out (see API_READINESS_CHECK_PATH). */
export const NLB_HEALTH_CHECK_PATH = API_READINESS_CHECK_PATH;

/** Security group rules per group are limited (60 by default); each CIDR takes one. */
export const MAX_PUBLIC_ACCESS_CIDRS = 20;

export const nlb: ManagedLoadBalancerKind<"nlb"> = {
  kind: "nlb",
  displayName: "AWS Network Load Balancer",
  runsOnNode: false,
  // AWS: a Network Load Balancer's subnet must have at least 8 free IP addresses.
  freeAddressesPerSubnet: 8,
  endpointHost: ({ stack }) => nlbEndpointName(stack),
  specIssues: (spec, explicit) => {
    const issues: SpecIssue[] = [];
    if (explicit.instanceType !== undefined) {
      issues.push({
        field: "loadBalancer.instanceType",
        value: explicit.instanceType,
        message: "only for the haproxy and nginx kinds; an nlb runs on no instance",
      });
    }
    const longest = nlbResourceName(spec.name, spec.loadBalancer.publicAccessCidrs ? "public" : "internal");
    if (longest.length > NLB_NAME_LIMIT) {
      issues.push({
        field: "(file name)",
        value: spec.name,
        message: `with loadBalancer.kind nlb the stack name names the load balancer (${longest}), which AWS limits to ${NLB_NAME_LIMIT} characters: use at most ${NLB_NAME_LIMIT - (longest.length - spec.name.length)} characters`,
      });
    }
    if (spec.name.startsWith("internal-")) {
      issues.push({ field: "(file name)", value: spec.name, message: 'AWS load balancer names must not start with "internal-"' });
    }
    const vpc = mustParseCidr(spec.network.vpcCidr);
    (spec.loadBalancer.publicAccessCidrs ?? []).forEach((cidr, index) => {
      const parsed = parseCidr(cidr);
      const field = `loadBalancer.publicAccessCidrs.${index}`;
      if (typeof parsed === "string") issues.push({ field, value: cidr, message: parsed });
      else if (overlaps(parsed, vpc) && parsed.prefix >= vpc.prefix) {
        issues.push({ field, value: cidr, message: `lies inside network.vpcCidr (${spec.network.vpcCidr}), which reaches the internal endpoint anyway; list the networks kubectl users come from over the internet` });
      }
    });
    const cidrs = spec.loadBalancer.publicAccessCidrs ?? [];
    if (new Set(cidrs).size !== cidrs.length) {
      issues.push({ field: "loadBalancer.publicAccessCidrs", value: cidrs, message: "each CIDR may appear once" });
    }
    return issues;
  },
  warnings: (spec: ClusterSpec) =>
    (spec.loadBalancer.publicAccessCidrs ?? []).includes(ANYWHERE_IPV4)
      ? [
          {
            category: "security" as const,
            field: "loadBalancer.publicAccessCidrs",
            value: ANYWHERE_IPV4,
            message:
              "loadBalancer: publicAccessCidrs includes 0.0.0.0/0: the Kubernetes API is reachable from the whole internet, " +
              "protected only by its authentication. List the networks your kubectl users and CI come from.",
          },
        ]
      : [],
  failureCase: (topology: Topology) => ({
    failure: "the load balancer (AWS NLB)",
    survives: true,
    why:
      `AWS runs it with a node in each of the ${topology.zones.length} zones and routes across zones; ` +
      `${nlbEndpointName(topology.stack)} resolves to the nodes of the zones that are up`,
  }),
  lostWithZone: () => undefined,
  failover: {
    worstCaseSeconds: nlbWorstCaseMarkDownSeconds(),
    explanation:
      `HTTPS ${API_READINESS_CHECK_PATH} every ${NLB_TUNING.healthCheckIntervalSeconds} s (NLB's fastest), ${NLB_TUNING.unhealthyThreshold} failures ` +
      `(NLB's fewest), timeout ${NLB_TUNING.healthCheckTimeoutSeconds} s: unhealthy ${nlbCrashMarkDownSeconds()} s after a crash, ` +
      `${nlbWorstCaseMarkDownSeconds()} s after a freeze or black hole, plus AWS's propagation to the NLB nodes; computed from the settings, not measured here`,
  },
};
