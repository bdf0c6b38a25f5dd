import { readFileSync } from "fs";
import { join } from "path";
import { CLIENT_GO_JITTER_FACTOR, leaderElectionReport } from "../lib/leader-election";
import { validateSpec } from "../lib/validate";

describe("leaderElectionReport", () => {
  test("client-go defaults 15s / 10s / 2s", () => {
    expect(leaderElectionReport({ leaseDuration: "15s", renewDeadline: "10s", retryPeriod: "2s" })).toEqual({
      worstCaseTakeoverSeconds: 23.8,
      takeoverAfterObservedRenewalSeconds: 19.4,
      formula: "leaseDuration + 2 x (1 + 1.2) x retryPeriod = 15s + 2 x 4.4s = 23.8s",
      partitionedLeaderStepsDownAfterSeconds: 10,
      partitionedLeaderStepsDownWithinSecondsOfLastRenewal: 12,
      splitBrainMarginSeconds: 3,
      gracefulHandoverSeconds: 4.4,
    });
  });

  test("custom durations, including minutes and milliseconds", () => {
    const slow = leaderElectionReport({ leaseDuration: "1m", renewDeadline: "40s", retryPeriod: "5s" });
    expect(slow.worstCaseTakeoverSeconds).toBe(82);
    expect(slow.takeoverAfterObservedRenewalSeconds).toBe(71);
    expect(slow.partitionedLeaderStepsDownAfterSeconds).toBe(40);
    expect(slow.partitionedLeaderStepsDownWithinSecondsOfLastRenewal).toBe(45);
    expect(slow.splitBrainMarginSeconds).toBe(15);
    expect(slow.gracefulHandoverSeconds).toBe(11);

    const fast = leaderElectionReport({ leaseDuration: "1m30s", renewDeadline: "1m", retryPeriod: "500ms" });
    expect(fast.worstCaseTakeoverSeconds).toBe(92.2);
    expect(fast.gracefulHandoverSeconds).toBe(1.1);
    expect(fast.formula).toBe("leaseDuration + 2 x (1 + 1.2) x retryPeriod = 1m30s + 2 x 1.1s = 92.2s");
  });

  test("a margin that is not positive is reported as such (renewDeadline + retryPeriod reach the lease)", () => {
    expect(leaderElectionReport({ leaseDuration: "12s", renewDeadline: "10s", retryPeriod: "2s" }).splitBrainMarginSeconds).toBe(0);
  });

  test("the shipped specs' durations", () => {
    const text = readFileSync(join(__dirname, "..", "clusters", "external-etcd.yaml"), "utf8");
    const { spec } = validateSpec("clusters/external-etcd.yaml", "external-etcd", text);
    expect(leaderElectionReport(spec.leaderElection).worstCaseTakeoverSeconds).toBe(23.8);
  });

  test("rejects durations that are not positive Go durations", () => {
    expect(() => leaderElectionReport({ leaseDuration: "15", renewDeadline: "10s", retryPeriod: "2s" })).toThrow(
      'leaderElection.leaseDuration: "15" is not a positive Go duration',
    );
    expect(() => leaderElectionReport({ leaseDuration: "15s", renewDeadline: "10s", retryPeriod: "0s" })).toThrow(/retryPeriod/);
  });
});

/**
 * An independent check of the formula: client-go's standby loop, simulated. The leader renews every
 * retryPeriod and crashes right after one renewal; the standby tries at jittered intervals
 * (wait.Jitter: retryPeriod + rand x 1.2 x retryPeriod), notes observedTime when the record it reads
 * has changed, and acquires on the first try at or after observedTime + leaseDuration.
 */
describe("simulated client-go standby", () => {
  function takeoverAfterCrash(leaseS: number, retryS: number, random: () => number): number {
    const crashAt = 20 * retryS; // the leader's last renewal; it renewed every retryPeriod before
    const renewalAtOrBefore = (t: number) => Math.min(crashAt, Math.floor(t / retryS) * retryS);
    let now = random() * retryS * (1 + CLIENT_GO_JITTER_FACTOR); // the standby's first try, anywhere
    let seenRenewal = -1;
    let observedTime = 0;
    for (;;) {
      const renewal = renewalAtOrBefore(now);
      if (renewal !== seenRenewal) {
        seenRenewal = renewal;
        observedTime = now;
      }
      if (now >= crashAt && now >= observedTime + leaseS) return now - crashAt;
      now += retryS + random() * CLIENT_GO_JITTER_FACTOR * retryS;
    }
  }

  test("never exceeds the worst case and comes close to it", () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const { worstCaseTakeoverSeconds } = leaderElectionReport({ leaseDuration: "15s", renewDeadline: "10s", retryPeriod: "2s" });
    const takeovers = Array.from({ length: 20000 }, () => takeoverAfterCrash(15, 2, random));
    const longest = Math.max(...takeovers);
    expect(longest).toBeLessThanOrEqual(worstCaseTakeoverSeconds);
    expect(longest).toBeGreaterThan(worstCaseTakeoverSeconds - 1.5);
    // Never before the lease could have expired.
    expect(Math.min(...takeovers)).toBeGreaterThanOrEqual(15);
  });
});
