/**
 * What a load-balancer kind provides. The registry (./registry.ts) holds one module per kind,
 * typed against this interface, so the compiler lists everything a new kind must supply: where it runs, its files, how the boot script installs and checks it, its
 * warnings, what its failure means and how fast it drops a dead API server.
 */
import type { NodeFile } from "../node-file";
import type { ClusterSpec } from "../spec";
import type { Topology } from "../topology";

/** How quickly the kind stops sending new connections to an API server that died. */
export interface FailoverFigure {
  /** Worst case, from the failure to the server leaving rotation; undefined if some failures are never detected. */
  readonly worstCaseSeconds: number | undefined;
  /** How the figure comes about, in one sentence, for the review page and the docs. */
  readonly explanation: string;
}

/** A failure of the load balancer itself (its node or its service). */
export interface LoadBalancerFailure {
  readonly failure: string;
  readonly survives: boolean;
  readonly why: string;
}

interface LoadBalancerKindBase<K extends string> {
  readonly kind: K;
  /** Product name, e.g. "HAProxy". */
  readonly displayName: string;
  /** Validation warnings about this kind for a legal spec (shown at synth and in REVIEW.md). */
  warnings(spec: ClusterSpec): string[];
  /** What losing the load balancer does, for the failure analysis. */
  failureCase(topology: Topology): LoadBalancerFailure;
  /** Why losing zone `zone` takes the API endpoint down, or undefined when it does not. */
  lostWithZone(topology: Topology, zone: string): string | undefined;
  readonly failover: FailoverFigure;
}

/** A proxy on a node of the load-balancer role, installed and started by templates/load-balancer.sh. */
export interface NodeLoadBalancerKind<K extends string = string> extends LoadBalancerKindBase<K> {
  readonly runsOnNode: true;
  /** The configuration file the proxy reads; renderFiles includes it. */
  readonly configPath: string;
  /** Every file the load-balancer node gets for this kind. */
  renderFiles(topology: Topology): NodeFile[];
  /** Debian packages to install. */
  readonly packages: readonly string[];
  /** Command that validates the configuration file, whose path is appended; words without spaces (cluster.env splits on them). */
  readonly configCheck: readonly string[];
  /** The systemd unit that serves the endpoint. */
  readonly service: string;
}

/** A load balancer AWS runs: no node, no boot script; its construct lives in lib/constructs/. */
export interface ManagedLoadBalancerKind<K extends string = string> extends LoadBalancerKindBase<K> {
  readonly runsOnNode: false;
}

export type LoadBalancerKindModule<K extends string = string> = NodeLoadBalancerKind<K> | ManagedLoadBalancerKind<K>;

/** The warning every single-instance kind carries. */
export const SINGLE_INSTANCE_WARNING =
  "loadBalancer: one load-balancer instance is a single point of failure for the API endpoint: " +
  "running pods keep working, but kubectl, kubelets and controllers lose the API until it is replaced.";

/** Losing the one load-balancer node, for every single-instance kind. */
export function loadBalancerNodeFailure(): LoadBalancerFailure {
  return {
    failure: "the load-balancer node",
    survives: false,
    why: "the API endpoint is gone: running pods keep serving, but kubectl, kubelets and controllers cannot reach the API until it is replaced",
  };
}

/** Losing the zone of the one load-balancer node. */
export function loadBalancerNodeZone(topology: Topology, zone: string): string | undefined {
  return topology.loadBalancer?.availabilityZone === zone ? "the load balancer runs there" : undefined;
}
