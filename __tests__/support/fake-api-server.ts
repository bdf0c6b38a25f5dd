/**
 * A stand-in kube-apiserver for load-balancer tests: HTTPS on one loopback address.
 *
 * /readyz and /livez behave like kube-apiserver's health endpoints (k8s.io/apiserver healthz):
 * each runs a list of named checks; `?exclude=<name>` (repeatable) skips a check, an excluded name
 * that does not exist is ignored with a warning line; success is 200 "ok" (the verbose list with
 * `?verbose`), any failed check is 500 with the per-check list ending in "<endpoint> check failed".
 * Any other path answers 200 with the server's name (x-served-by), like a served API request.
 *
 * SIGUSR1 makes the etcd checks (`etcd` on both endpoints, `etcd-readiness` on /readyz) fail for
 * ETCD_HICCUP_MS, as during an etcd leader election; API requests keep being served (kube-apiserver
 * answers reads from its watch cache and retries etcd itself).
 *
 * It runs as its own process (see startFakeApiServer in lb-harness.ts) so a test can crash it
 * with SIGKILL and freeze it with SIGSTOP exactly like a real master, by PID.
 *
 * Child usage: node -r scripts/register.js fake-api-server.ts <host> <port> <cert> <key> <name> [etcd-hiccup-ms]
 */
import * as fs from "fs";
import * as https from "https";

export const FAKE_API_READY_LINE = "fake-api-server ready";
export const FAKE_API_HICCUP_LINE = "fake-api-server etcd checks failing";

type Check = { readonly name: string; readonly ok: () => boolean };

/** kube-apiserver's check names (1.30+), as /readyz?verbose lists them. */
export function healthChecks(endpoint: "readyz" | "livez", etcdHealthy: () => boolean): Check[] {
  const ok = () => true;
  const checks: Check[] = [
    { name: "ping", ok },
    { name: "log", ok },
    { name: "etcd", ok: etcdHealthy },
  ];
  if (endpoint === "readyz") checks.push({ name: "etcd-readiness", ok: etcdHealthy }, { name: "informer-sync", ok });
  checks.push({ name: "poststarthook/start-apiserver-admission-initializer", ok });
  if (endpoint === "readyz") checks.push({ name: "shutdown", ok });
  return checks;
}

/** The status and body kube-apiserver's healthz handler gives for these checks and this query. */
export function healthResponse(endpoint: string, checks: readonly Check[], query: URLSearchParams): { status: number; body: string } {
  const excluded = new Set(query.getAll("exclude"));
  const lines: string[] = [];
  let failed = false;
  for (const check of checks) {
    if (excluded.delete(check.name)) {
      lines.push(`[+]${check.name} excluded: ok`);
    } else if (check.ok()) {
      lines.push(`[+]${check.name} ok`);
    } else {
      lines.push(`[-]${check.name} failed: reason withheld`);
      failed = true;
    }
  }
  if (excluded.size > 0) lines.push(`warn: some health checks cannot be excluded: no matches for ${[...excluded].map((name) => `"${name}"`).join(",")}`);
  if (failed) return { status: 500, body: `${lines.join("\n")}\n${endpoint} check failed\n` };
  return { status: 200, body: query.has("verbose") ? `${lines.join("\n")}\n${endpoint} check passed\n` : "ok" };
}

function main(argv: readonly string[]): void {
  const [host, portText, certPath, keyPath, name, hiccupText] = argv;
  if (!host || !portText || !certPath || !keyPath || !name) {
    process.stderr.write("usage: fake-api-server.ts <host> <port> <cert> <key> <name> [etcd-hiccup-ms]\n");
    process.exit(2);
  }
  const hiccupMs = Number(hiccupText ?? 3000);
  let etcdFailingUntil = 0;
  const etcdHealthy = () => Date.now() >= etcdFailingUntil;
  process.on("SIGUSR1", () => {
    etcdFailingUntil = Date.now() + hiccupMs;
    process.stdout.write(`${FAKE_API_HICCUP_LINE} for ${hiccupMs} ms\n`);
  });
  const server = https.createServer(
    { cert: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) },
    (request, response) => {
      const url = new URL(request.url ?? "/", "https://fake");
      const endpoint = url.pathname.slice(1);
      // Each client opens a new connection per request, like kubectl; closing keeps the count of
      // open connections on every backend honest for leastconn.
      const headers = { "content-type": "text/plain", "x-served-by": name, connection: "close" };
      if (request.method === "GET" && (endpoint === "readyz" || endpoint === "livez")) {
        const { status, body } = healthResponse(endpoint, healthChecks(endpoint, etcdHealthy), url.searchParams);
        response.writeHead(status, headers);
        response.end(body);
        return;
      }
      response.writeHead(200, headers);
      response.end(`served by ${name}\n`);
    },
  );
  server.listen({ host, port: Number(portText) }, () => process.stdout.write(`${FAKE_API_READY_LINE}\n`));
  server.on("error", (error) => {
    process.stderr.write(`fake-api-server ${name}: ${error.message}\n`);
    process.exit(1);
  });
}

if (require.main === module) main(process.argv.slice(2));
