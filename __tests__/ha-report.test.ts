/** ha-report.json: what each shipped and edge-case topology survives, as data a pipeline can gate on. */
import * as fs from "fs";
import * as path from "path";
import { buildHaReport, HA_REPORT_SCHEMA_VERSION } from "../lib/ha-report";
import { analyzeFailures } from "../lib/failure-analysis";
import { HAPROXY_FAILOVER_TUNING, haproxyWorstCaseMarkDownMs } from "../lib/load-balancers/haproxy";
import { NGINX_FAILOVER_TUNING } from "../lib/load-balancers/nginx";
import { renderReviewBundle } from "../lib/review";
import { renderCluster } from "../lib/render/cluster";
import { inlineTopology, REPO_ROOT, shippedTopology } from "./support/specs";
import { validateSpec } from "../lib/validate";

describe("five-server", () => {
  const report = buildHaReport(shippedTopology("five-server"));

  test("summary: neither a control-plane node nor the load balancer may fail", () => {
    expect(report.schemaVersion).toBe(HA_REPORT_SCHEMA_VERSION);
    expect(report.summary).toEqual({
      survivesEverySingleNodeFailure: false,
      survivesEveryZoneFailure: false,
      singlePointsOfFailure: ["control-plane", "load-balancer"],
      zonesNotSurvived: ["eu-west-1a", "eu-west-1b"],
      haWarnings: 3,
    });
    expect(report.strict).toEqual({ spec: false, passes: false });
  });

  test("etcd: 2 stacked members, quorum 2, zero failures tolerated, one per zone", () => {
    expect(report.etcd).toEqual({
      topology: "stacked",
      members: ["control-plane-1", "control-plane-2"],
      quorum: 2,
      failuresTolerated: 0,
      membersByZone: { "eu-west-1a": 1, "eu-west-1b": 1, "eu-west-1c": 0 },
    });
  });

  test("leader election: the client-go bound for the spec's durations", () => {
    expect(report.leaderElection).toMatchObject({
      leaseDuration: "15s",
      renewDeadline: "10s",
      retryPeriod: "2s",
      components: ["kube-controller-manager", "kube-scheduler"],
      worstCaseTakeoverSeconds: 23.8,
      gracefulHandoverSeconds: 4.4,
    });
  });

  test("load balancer: HAProxy's figures come from the tuning its config is rendered with", () => {
    const worst = haproxyWorstCaseMarkDownMs() / 1000;
    expect(worst).toBe(3.5);
    expect(report.loadBalancer).toMatchObject({
      kind: "haproxy",
      endpoint: "10.0.0.10:6443",
      backends: ["10.0.0.20:6443", "10.0.32.20:6443"],
      instances: 1,
      activeHealthChecks: true,
      worstCaseOutOfRotationSeconds: worst,
    });
    const { crashed, blackHoled, frozen } = report.loadBalancer.byFailure;
    // A refused check costs no timeout: the next check (inter) and one fastinter before the confirming one.
    expect(crashed.outOfRotationWithinSeconds).toBe((HAPROXY_FAILOVER_TUNING.checkIntervalMs + HAPROXY_FAILOVER_TUNING.fastIntervalMs) / 1000);
    expect([blackHoled.outOfRotationWithinSeconds, frozen.outOfRotationWithinSeconds]).toEqual([worst, worst]);
  });

  test("failures are REVIEW.md's table, row for row, with a subject for tools", () => {
    const topology = shippedTopology("five-server");
    expect(report.failures.map(({ failure, survives, why }) => ({ failure, survives, why }))).toEqual(
      analyzeFailures(topology).map(({ failure, survives, why }) => ({ failure, survives, why })),
    );
    expect(report.failures.map((f) => f.subject.kind)).toEqual(["node", "etcd-members", "node", "node", "zone", "zone"]);
    expect(report.failures[0].subject).toEqual({ kind: "node", role: "control-plane", nodes: ["control-plane-1", "control-plane-2"] });
    expect(report.failures[4].subject).toEqual({ kind: "zone", zone: "eu-west-1a", nodes: ["lb-1", "control-plane-1", "worker-1"] });
  });

  test("warnings are synth's warnings, each with its field and category", () => {
    expect(report.warnings.map((w) => w.message)).toEqual(shippedTopology("five-server").warnings);
    expect(report.warnings.map((w) => [w.category, w.field, w.value])).toEqual([
      ["ha", "controlPlane.count", 2],
      ["ha", "loadBalancer.kind", "haproxy"],
      ["ha", "network.natGateways", "single"],
    ]);
  });
});

test("external-etcd survives a control-plane node and an etcd node, not the load balancer", () => {
  const report = buildHaReport(shippedTopology("external-etcd"));
  expect(report.summary.singlePointsOfFailure).toEqual(["load-balancer"]);
  expect(report.etcd).toMatchObject({ topology: "external", members: ["etcd-1", "etcd-2", "etcd-3"], quorum: 2, failuresTolerated: 1 });
  const byRole = Object.fromEntries(report.failures.flatMap((f) => (f.subject.kind === "node" ? [[f.subject.role, f.survives]] : [])));
  expect(byRole).toEqual({ "control-plane": true, etcd: true, "load-balancer": false, worker: true });
  expect(report.summary.haWarnings).toBe(2);
});

test("NGINX: no active health checks, and a frozen master is never taken out", () => {
  const { loadBalancer } = buildHaReport(inlineTopology("ngx", "loadBalancer: {kind: nginx}"));
  expect(loadBalancer.activeHealthChecks).toBe(false);
  expect(loadBalancer.worstCaseOutOfRotationSeconds).toBeNull();
  expect(loadBalancer.byFailure.frozen.outOfRotationWithinSeconds).toBeNull();
  expect(loadBalancer.byFailure.crashed.outOfRotationWithinSeconds).toBe(0);
  expect(loadBalancer.byFailure.blackHoled.outOfRotationWithinSeconds).toBe(NGINX_FAILOVER_TUNING.connectTimeoutMs / 1000);
});

test("three stacked members across three zones survive any one zone except the load balancer's", () => {
  const report = buildHaReport(inlineTopology("three", "controlPlane: {count: 3}"));
  expect(report.etcd).toMatchObject({ quorum: 2, failuresTolerated: 1, membersByZone: { "eu-west-1a": 1, "eu-west-1b": 1, "eu-west-1c": 1 } });
  expect(report.summary.singlePointsOfFailure).toEqual(["load-balancer"]);
  expect(report.summary.zonesNotSurvived).toEqual(["eu-west-1a"]);
});

test("custom leader-election durations change the takeover bound", () => {
  const report = buildHaReport(inlineTopology("le", 'leaderElection: {leaseDuration: "30s", renewDeadline: "20s", retryPeriod: "5s"}'));
  expect(report.leaderElection.worstCaseTakeoverSeconds).toBe(52);
});

test("the spec's strict flag is recorded", () => {
  // Strict mode refuses any spec with an HA warning; only the flag itself can be shown on a spec that passes validation.
  const topology = inlineTopology("flag", "controlPlane: {count: 3}");
  expect(buildHaReport({ ...topology, spec: { ...topology.spec, strict: true } }).strict.spec).toBe(true);
});

test("the review bundle carries ha-report.json", () => {
  const topology = shippedTopology("external-etcd");
  const text = renderReviewBundle(topology, renderCluster(topology).nodes).get("ha-report.json");
  expect(text).toBe(`${JSON.stringify(buildHaReport(shippedTopology("external-etcd")), null, 2)}\n`);
});

test("production: no single point of failure, every zone survived, and strict mode passes", () => {
  const report = buildHaReport(shippedTopology("production"));
  expect(report.summary).toMatchObject({ survivesEverySingleNodeFailure: true, survivesEveryZoneFailure: true, singlePointsOfFailure: [], haWarnings: 0 });
  expect(report.loadBalancer.byFailure.crashed.outOfRotationWithinSeconds).toBe(10);
  expect(report.loadBalancer.byFailure.frozen.outOfRotationWithinSeconds).toBe(12);
  const text = fs.readFileSync(path.join(REPO_ROOT, "clusters", "production.yaml"), "utf8");
  expect(() => validateSpec("clusters/production.yaml", "production", text, { strict: true })).not.toThrow();
  expect(() => validateSpec("clusters/five-server.yaml", "five-server", text.replace(/kind: nlb/, "kind: haproxy"), { strict: true })).toThrow(/loadBalancer\.kind/);
});
