/**
 * The load balancers' probe (lib/api-server-health.ts) against kube-apiserver's healthz semantics,
 * as the fake API server of the failover test implements them.
 */
import { API_SERVER_PROBE_PATH, ETCD_READY_CHECKS } from "../lib/api-server-health";
import { healthChecks, healthResponse } from "./support/fake-api-server";

const probe = (path: string, etcdHealthy: boolean) => {
  const url = new URL(path, "https://apiserver");
  const endpoint = url.pathname.slice(1) as "readyz" | "livez";
  return healthResponse(endpoint, healthChecks(endpoint, () => etcdHealthy), url.searchParams);
};

test("the probe excludes exactly kube-apiserver's etcd checks", () => {
  expect(API_SERVER_PROBE_PATH).toBe(`/readyz?${ETCD_READY_CHECKS.map((c) => `exclude=${c}`).join("&")}`);
  const names = healthChecks("readyz", () => true).map((check) => check.name);
  for (const check of ETCD_READY_CHECKS) expect(names).toContain(check);
});

test("with etcd failing, plain /readyz fails on every API server and the probe passes", () => {
  expect(probe("/readyz", false)).toEqual({ status: 500, body: expect.stringMatching(/\[-\]etcd failed: reason withheld\n\[-\]etcd-readiness failed: reason withheld\n[\s\S]*readyz check failed\n$/) });
  expect(probe(API_SERVER_PROBE_PATH, false)).toEqual({ status: 200, body: "ok" });
  expect(probe(`${API_SERVER_PROBE_PATH}&verbose`, false).body).toMatch(/\[\+\]etcd excluded: ok\n\[\+\]etcd-readiness excluded: ok\n/);
  expect(probe("/readyz", true)).toEqual({ status: 200, body: "ok" });
});

test("an excluded name the server does not have is ignored with a warning, as kube-apiserver does", () => {
  const result = probe("/livez?exclude=etcd&exclude=etcd-readiness&verbose", false);
  expect(result.status).toBe(200);
  expect(result.body).toMatch(/warn: some health checks cannot be excluded: no matches for "etcd-readiness"/);
});
