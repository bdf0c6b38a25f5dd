/**
 * What a load-balancer kind provides. The registry (./registry.ts) holds one module per kind,
 * typed against this interface, so the compiler lists everything a new kind must supply: where it runs, its files, how the boot script installs and checks it, its
 * warnings, what its failure means and how fast it drops a dead API server.
 */
import { API_SERVER_PROBE_PATH } from "../api-server-health";
import type { NodeFile } from "../node-file";
import type { ClusterSpec } from "../spec";
import type { ClusterNode, Topology } from "../topology";
import type { SpecIssue, WarningCategory } from "../spec-issue";

/** loadBalancer fields as written in the spec file (undefined: left to the default). */
export interface ExplicitLoadBalancerFields {
  readonly instanceType?: unknown;
}

/**
 * The readiness check every kind's health check uses: lib/api-server-health.ts defines it (etcd
 * left out of the per-target decision, and why).
 */
export const API_READINESS_CHECK_PATH = API_SERVER_PROBE_PATH;

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
  /** The host of controlPlaneEndpoint, which the API server certificate names too. */
  endpointHost(context: { readonly stack: string; readonly node: ClusterNode | undefined }): string;
  /** Cross-field errors of the spec for this kind; `explicit` holds the loadBalancer fields the file sets. */
  specIssues(spec: ClusterSpec, explicit: ExplicitLoadBalancerFields): SpecIssue[];
  /** Validation warnings about this kind for a legal spec (shown at synth and in REVIEW.md). */
  warnings(spec: ClusterSpec): KindWarning[];
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
  /** Free addresses it needs in each private subnet it has a node in (the address plan leaves them free). */
  readonly freeAddressesPerSubnet: number;
}

export type LoadBalancerKindModule<K extends string = string> = NodeLoadBalancerKind<K> | ManagedLoadBalancerKind<K>;

/**
 * A kind's warning, with its category ("ha" ones are refused in strict mode) and the field that
 * makes it.
 */
export interface KindWarning {
  readonly category: WarningCategory;
  readonly field: string;
  readonly value: unknown;
  readonly message: string;
}

/** The warning every single-instance kind carries. */
export function singleInstanceWarning(spec: ClusterSpec): KindWarning {
  return {
    category: "ha",
    field: "loadBalancer.kind",
    value: spec.loadBalancer.kind,
    message:
      "loadBalancer: one load-balancer instance is a single point of failure for the API endpoint: " +
      "running pods keep working, but kubectl, kubelets and controllers lose the API until it is replaced.",
  };
}

/** Losing the one load-balancer node, for every single-instance kind. */
export function loadBalancerNodeFailure(): LoadBalancerFailure {
  return {
    failure: "the load-balancer node",
    survives: false,
    why: "the API endpoint is gone: running pods keep serving, but kubectl, kubelets and controllers cannot reach the API until it is replaced",
  };
}

/** Where a single-instance kind's endpoint is: its node's private IP. */
export function loadBalancerNodeAddress(context: { readonly stack: string; readonly node: ClusterNode | undefined }): string {
  if (!context.node) throw new Error(`load balancer: stack ${context.stack} has no load-balancer node`);
  return context.node.privateIp;
}

/** A single-instance kind takes no fields beyond kind and instanceType. */
export function nodeKindSpecIssues(spec: ClusterSpec): SpecIssue[] {
  const cidrs = spec.loadBalancer.publicAccessCidrs;
  return cidrs === undefined
    ? []
    : [{ field: "loadBalancer.publicAccessCidrs", value: cidrs, message: "only for loadBalancer.kind nlb; reach a haproxy or nginx endpoint through Session Manager or a VPN" }];
}

/** Losing the zone of the one load-balancer node. */
export function loadBalancerNodeZone(topology: Topology, zone: string): string | undefined {
  return topology.loadBalancer?.availabilityZone === zone ? "the load balancer runs there" : undefined;
}

/**
 * A duration in milliseconds in the time syntax HAProxy and NGINX share: whole hours, minutes or
 * seconds where exact ("1h", "10s"), else milliseconds ("500ms"); both read integers only.
 */
export function proxyDuration(value: number): string {
  if (value % 3_600_000 === 0) return `${value / 3_600_000}h`;
  if (value % 60_000 === 0) return `${value / 60_000}m`;
  if (value % 1000 === 0) return `${value / 1000}s`;
  return `${value}ms`;
}
