/**
 * ha-report.json in the review bundle: what the cluster survives, in a form a pipeline can gate on
 * (`jq '.summary.survivesEverySingleNodeFailure'`). Built from the same failure analysis as
 * REVIEW.md's table, etcd's quorum, the leader-election bound and the load balancer's failover
 * figure. Pure: the same topology always gives the same report. docs/review.md documents each field.
 */
import type { ClusterSpec } from "./spec";
import { Topology, workerAutoScalingSummary } from "./topology";
import { analyzeFailures, EgressOnZoneLoss, egressOnZoneLoss, FailureSubject } from "./failure-analysis";
import { leaderElectionReport, LeaderElectionReport } from "./leader-election";
import { specWarnings } from "./validate";
import type { WarningCategory } from "./spec-issue";
import { HAPROXY_FAILOVER_TUNING, haproxyWorstCaseMarkDownMs } from "./load-balancers/haproxy";
import { NGINX_FAILOVER_TUNING } from "./load-balancers/nginx";
import { nlbCrashMarkDownSeconds, nlbWorstCaseMarkDownSeconds, NLB_TUNING } from "./load-balancers/nlb";

export const HA_REPORT_FILE = "ha-report.json";
/** Bumped when a field changes meaning or goes away; new fields keep the version. */
export const HA_REPORT_SCHEMA_VERSION = 1;

export interface HaReport {
  readonly schemaVersion: typeof HA_REPORT_SCHEMA_VERSION;
  readonly stack: string;
  readonly summary: HaSummary;
  /** Every failure of REVIEW.md's table, in its order. */
  readonly failures: readonly HaFailure[];
  readonly etcd: HaEtcd;
  readonly leaderElection: HaLeaderElection;
  readonly loadBalancer: HaLoadBalancer;
  /** Only with workers.autoScaling: the group, whose instances' names and addresses are dynamic. */
  readonly workerAutoScaling?: NonNullable<ReturnType<typeof workerAutoScalingSummary>>;
  /** NAT gateways and VPC endpoints: what the other zones keep reaching when one zone fails. */
  readonly egress: EgressOnZoneLoss;
  /** Every warning synth printed for this stack, with the spec field behind it. */
  readonly warnings: readonly HaWarning[];
  readonly strict: {
    /** The spec sets `strict: true`. */
    readonly spec: boolean;
    /** No HA warning stands, so strict mode (spec or KUBEADM_HA_STRICT=1) would synthesize this stack. */
    readonly passes: boolean;
  };
}

export interface HaSummary {
  /** Losing any one node, of any role, leaves the API reachable and etcd writable. */
  readonly survivesEverySingleNodeFailure: boolean;
  /** Losing any one availability zone does. */
  readonly survivesEveryZoneFailure: boolean;
  /** Roles where losing one node is not survived: the cluster's single points of failure. */
  readonly singlePointsOfFailure: readonly string[];
  /** Zones whose loss is not survived. */
  readonly zonesNotSurvived: readonly string[];
  readonly haWarnings: number;
}

export interface HaFailure {
  readonly subject: FailureSubject;
  /** The same wording as REVIEW.md. */
  readonly failure: string;
  readonly survives: boolean;
  readonly why: string;
}

export interface HaEtcd {
  readonly topology: "stacked" | "external";
  readonly members: readonly string[];
  readonly quorum: number;
  readonly failuresTolerated: number;
  /** Members per availability zone: a zone holding more than failuresTolerated members takes quorum with it. */
  readonly membersByZone: Readonly<Record<string, number>>;
}

export interface HaLeaderElection extends LeaderElectionReport {
  readonly leaseDuration: string;
  readonly renewDeadline: string;
  readonly retryPeriod: string;
  /** The components that elect a leader with these durations. */
  readonly components: readonly string[];
}

export interface FailoverFigure {
  /** Worst case from an API server failing this way to no new connection being sent to it; null: never. */
  readonly outOfRotationWithinSeconds: number | null;
  readonly how: string;
}

export interface HaLoadBalancer {
  readonly kind: ClusterSpec["loadBalancer"]["kind"];
  readonly endpoint: string;
  readonly backends: readonly string[];
  /** Load-balancer instances; 1 is a single point of failure for the endpoint. */
  readonly instances: number;
  readonly activeHealthChecks: boolean;
  /** The largest of byFailure; null when some failure is never detected. */
  readonly worstCaseOutOfRotationSeconds: number | null;
  readonly byFailure: {
    /** The process is gone: connections are refused. */
    readonly crashed: FailoverFigure;
    /** The host drops packets: connections time out. */
    readonly blackHoled: FailoverFigure;
    /** TCP is accepted but nothing answers. */
    readonly frozen: FailoverFigure;
  };
}

export interface HaWarning {
  readonly category: WarningCategory;
  readonly field: string;
  readonly value: unknown;
  readonly message: string;
}

type FailoverFigures = Pick<HaLoadBalancer, "activeHealthChecks" | "byFailure">;

/**
 * How each load-balancer kind takes a failed API server out of rotation, from the tuning its
 * renderer writes into the config. A Record over the spec's kinds: a new kind fails to compile
 * until it states its figure here.
 */
const LOAD_BALANCER_FAILOVER: { readonly [K in ClusterSpec["loadBalancer"]["kind"]]: () => FailoverFigures } = {
  haproxy: () => {
    const tuning = HAPROXY_FAILOVER_TUNING;
    const seconds = (ms: number) => ms / 1000;
    // A refused check fails at once: no connect or check timeout is spent.
    const refused = haproxyWorstCaseMarkDownMs({ ...tuning, connectTimeoutMs: 0, checkTimeoutMs: 0 });
    const worst = haproxyWorstCaseMarkDownMs(tuning);
    const checks = `${tuning.fall} failed /readyz checks (inter ${seconds(tuning.checkIntervalMs)} s, fastinter ${seconds(tuning.fastIntervalMs)} s)`;
    return {
      activeHealthChecks: true,
      byFailure: {
        crashed: { outOfRotationWithinSeconds: seconds(refused), how: `${checks}, each refused at once; refused connections are redispatched meanwhile` },
        blackHoled: {
          outOfRotationWithinSeconds: seconds(worst),
          how: `${checks}, each after the ${seconds(Math.min(tuning.connectTimeoutMs, tuning.checkIntervalMs))} s connect timeout; timed-out connections are redispatched meanwhile`,
        },
        frozen: { outOfRotationWithinSeconds: seconds(worst), how: `${checks}, each after the ${seconds(tuning.checkTimeoutMs)} s check timeout` },
      },
    };
  },
  nginx: () => {
    const tuning = NGINX_FAILOVER_TUNING;
    const failFor = tuning.failTimeoutMs / 1000;
    return {
      activeHealthChecks: false,
      byFailure: {
        crashed: {
          outOfRotationWithinSeconds: 0,
          how: `the first refused client connection passes that client to the next master and takes the master out for ${failFor} s (max_fails ${tuning.maxFails}); one client connection is risked on it every ${failFor} s`,
        },
        blackHoled: {
          outOfRotationWithinSeconds: tuning.connectTimeoutMs / 1000,
          how: `the first client connection waits the ${tuning.connectTimeoutMs / 1000} s proxy_connect_timeout, is passed to the next master, and the master is out for ${failFor} s`,
        },
        frozen: {
          outOfRotationWithinSeconds: null,
          how: "never: NGINX open source has no active health checks, and a connection that is accepted counts as a success; clients sent to it hang until their own timeout",
        },
      },
    };
  },
  nlb: () => {
    const checks =
      `${NLB_TUNING.unhealthyThreshold} failed HTTPS health checks (every ${NLB_TUNING.healthCheckIntervalSeconds} s, ` +
      `timeout ${NLB_TUNING.healthCheckTimeoutSeconds} s), from the target group's settings; AWS adds its own propagation time`;
    return {
      activeHealthChecks: true,
      byFailure: {
        crashed: { outOfRotationWithinSeconds: nlbCrashMarkDownSeconds(), how: `${checks}, each refused at once` },
        blackHoled: { outOfRotationWithinSeconds: nlbWorstCaseMarkDownSeconds(), how: `${checks}, each after the timeout` },
        frozen: { outOfRotationWithinSeconds: nlbWorstCaseMarkDownSeconds(), how: `${checks}, each after the timeout` },
      },
    };
  },
};

const LEADER_ELECTED_COMPONENTS = ["kube-controller-manager", "kube-scheduler"] as const;

export function buildHaReport(topology: Topology): HaReport {
  const { spec } = topology;
  const failures = analyzeFailures(topology).map(({ subject, failure, survives, why }) => ({ subject, failure, survives, why }));
  const warnings = specWarnings(spec).map(({ category, field, value, message }) => ({ category, field, value, message }));
  const singlePointsOfFailure = failures.flatMap((f) => (f.subject.kind === "node" && !f.survives ? [f.subject.role] : []));
  const zonesNotSurvived = failures.flatMap((f) => (f.subject.kind === "zone" && !f.survives ? [f.subject.zone] : []));

  const memberZones = new Map(topology.nodes.map((node) => [node.name, node.availabilityZone]));
  const membersByZone: Record<string, number> = {};
  for (const zone of topology.zones) membersByZone[zone.name] = 0;
  for (const member of topology.etcd.members) {
    const zone = memberZones.get(member.name);
    if (zone !== undefined) membersByZone[zone] = (membersByZone[zone] ?? 0) + 1;
  }

  const failover = LOAD_BALANCER_FAILOVER[spec.loadBalancer.kind]();
  const figures = Object.values(failover.byFailure).map((figure) => figure.outOfRotationWithinSeconds);
  const haWarnings = warnings.filter((warning) => warning.category === "ha").length;

  return {
    schemaVersion: HA_REPORT_SCHEMA_VERSION,
    stack: topology.stack,
    summary: {
      survivesEverySingleNodeFailure: singlePointsOfFailure.length === 0,
      survivesEveryZoneFailure: zonesNotSurvived.length === 0,
      singlePointsOfFailure,
      zonesNotSurvived,
      haWarnings,
    },
    failures,
    etcd: {
      topology: topology.etcd.topology,
      members: topology.etcd.members.map((member) => member.name),
      quorum: topology.etcd.quorum,
      failuresTolerated: topology.etcd.failuresTolerated,
      membersByZone,
    },
    leaderElection: {
      leaseDuration: spec.leaderElection.leaseDuration,
      renewDeadline: spec.leaderElection.renewDeadline,
      retryPeriod: spec.leaderElection.retryPeriod,
      components: [...LEADER_ELECTED_COMPONENTS],
      ...leaderElectionReport(spec.leaderElection),
    },
    loadBalancer: {
      kind: spec.loadBalancer.kind,
      endpoint: topology.controlPlaneEndpoint,
      backends: [...topology.apiServerBackends],
      instances: topology.nodes.filter((node) => node.role === "load-balancer").length,
      activeHealthChecks: failover.activeHealthChecks,
      worstCaseOutOfRotationSeconds: figures.includes(null) ? null : Math.max(...(figures as number[])),
      byFailure: failover.byFailure,
    },
    ...(topology.workerAutoScaling ? { workerAutoScaling: workerAutoScalingSummary(topology)! } : {}),
    egress: egressOnZoneLoss(topology),
    warnings,
    strict: { spec: spec.strict, passes: haWarnings === 0 },
  };
}

export function renderHaReport(topology: Topology): string {
  return `${JSON.stringify(buildHaReport(topology), null, 2)}\n`;
}
