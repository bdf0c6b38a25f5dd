/**
 * A stand-in kube-apiserver for load-balancer tests: HTTPS on one loopback address, GET /readyz
 * answers 200 "ok" (what the HAProxy check expects), anything else 200 with the server's name.
 *
 * It runs as its own process (see startFakeApiServer in lb-harness.ts) so a test can crash it
 * with SIGKILL and freeze it with SIGSTOP exactly like a real master, by PID.
 *
 * Child usage: node -r scripts/register.js fake-api-server.ts <host> <port> <cert> <key> <name>
 */
import * as fs from "fs";
import * as https from "https";

export const FAKE_API_READY_LINE = "fake-api-server ready";

function main(argv: readonly string[]): void {
  const [host, portText, certPath, keyPath, name] = argv;
  if (!host || !portText || !certPath || !keyPath || !name) {
    process.stderr.write("usage: fake-api-server.ts <host> <port> <cert> <key> <name>\n");
    process.exit(2);
  }
  const server = https.createServer(
    { cert: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) },
    (request, response) => {
      const body = request.method === "GET" && request.url === "/readyz" ? "ok" : `served by ${name}\n`;
      // Each client opens a new connection per request, like kubectl; closing keeps the count of
      // open connections on every backend honest for leastconn.
      response.writeHead(200, { "content-type": "text/plain", "x-served-by": name, connection: "close" });
      response.end(body);
    },
  );
  server.listen({ host, port: Number(portText) }, () => process.stdout.write(`${FAKE_API_READY_LINE}\n`));
  server.on("error", (error) => {
    process.stderr.write(`fake-api-server ${name}: ${error.message}\n`);
    process.exit(1);
  });
}

if (require.main === module) main(process.argv.slice(2));
