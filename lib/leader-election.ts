/**
 * How long kube-controller-manager and kube-scheduler can go without an active leader, from the
 * spec's leaderElection durations. Both use client-go's tools/leaderelection with a Lease lock.
 *
 * What client-go does (tools/leaderelection/leaderelection.go, wait.Jitter in apimachinery):
 * - A standby calls tryAcquireOrRenew from wait.JitterUntil(retryPeriod, JitterFactor 1.2, sliding):
 *   the pause between tries is retryPeriod + rand[0,1) x 1.2 x retryPeriod, so up to 2.2 x retryPeriod.
 * - A standby only takes the lease once it has expired locally: observedTime + leaseDuration, where
 *   observedTime is when *this standby* last saw the record change (clock-skew safe, and therefore
 *   up to one standby retry later than the renewal itself).
 * - The leader renews every retryPeriod (wait.Until); each renewal round retries for at most
 *   renewDeadline, after which the leader stops leading (and the component exits).
 * - With ReleaseOnCancel, a leader that is stopped gracefully clears the holder on its way out, and a
 *   standby takes the lease at its next try. kube-scheduler sets it; kube-controller-manager does not,
 *   so a graceful kube-controller-manager restart still waits for the lease to expire.
 *
 * Worst case after a leader crashes (or is cut off) right after a successful renewal at t0:
 *   the standby sees that renewal as late as t0 + 2.2 x retryPeriod (one jittered retry),
 *   the lease expires for it leaseDuration later,
 *   and its next try comes at most another 2.2 x retryPeriod after that:
 *   takeover <= leaseDuration + 2 x 2.2 x retryPeriod   (15s, 10s, 2s defaults: 23.8 s).
 * API request latency adds to each try (sliding jitter measures from the end of a try); not modelled.
 */
import { parseDuration } from "./duration";

/** client-go's leaderelection.JitterFactor. */
export const CLIENT_GO_JITTER_FACTOR = 1.2;

export interface LeaderElectionDurations {
  readonly leaseDuration: string;
  readonly renewDeadline: string;
  readonly retryPeriod: string;
}

export interface LeaderElectionReport {
  /** Crash or network cut of the leader until a standby leads: leaseDuration + 2 x 2.2 x retryPeriod. */
  readonly worstCaseTakeoverSeconds: number;
  /** The crash case when the standby happened to see the last renewal at once: leaseDuration + 2.2 x retryPeriod. */
  readonly takeoverAfterObservedRenewalSeconds: number;
  readonly formula: string;
  /** A leader that cannot reach the API server stops leading renewDeadline after its first failed renewal... */
  readonly partitionedLeaderStepsDownAfterSeconds: number;
  /** ...which is at most retryPeriod + renewDeadline after its last successful one. */
  readonly partitionedLeaderStepsDownWithinSecondsOfLastRenewal: number;
  /**
   * leaseDuration - (retryPeriod + renewDeadline): how long before the earliest possible takeover a
   * cut-off leader has already stopped. Positive means no two leaders act at once (given equal clock rates).
   */
  readonly splitBrainMarginSeconds: number;
  /** Graceful stop with ReleaseOnCancel (kube-scheduler): one standby retry, at most 2.2 x retryPeriod. */
  readonly gracefulHandoverSeconds: number;
}

export function leaderElectionReport(durations: LeaderElectionDurations): LeaderElectionReport {
  const lease = mustParseSeconds("leaseDuration", durations.leaseDuration);
  const renew = mustParseSeconds("renewDeadline", durations.renewDeadline);
  const retry = mustParseSeconds("retryPeriod", durations.retryPeriod);
  const longestRetryPause = (1 + CLIENT_GO_JITTER_FACTOR) * retry;
  return {
    worstCaseTakeoverSeconds: round(lease + 2 * longestRetryPause),
    takeoverAfterObservedRenewalSeconds: round(lease + longestRetryPause),
    formula:
      `leaseDuration + 2 x (1 + ${CLIENT_GO_JITTER_FACTOR}) x retryPeriod = ` +
      `${durations.leaseDuration} + 2 x ${round(longestRetryPause)}s = ${round(lease + 2 * longestRetryPause)}s`,
    partitionedLeaderStepsDownAfterSeconds: round(renew),
    partitionedLeaderStepsDownWithinSecondsOfLastRenewal: round(retry + renew),
    splitBrainMarginSeconds: round(lease - (retry + renew)),
    gracefulHandoverSeconds: round(longestRetryPause),
  };
}

function mustParseSeconds(field: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new Error(`leaderElection.${field}: ${JSON.stringify(text)} is not a positive Go duration`);
  return ms / 1000;
}

/** Millisecond precision: the inputs are Go durations, so anything finer is float noise. */
function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
