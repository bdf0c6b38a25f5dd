import { renderUserData } from "../lib/render/user-data";
import { renderNodeFiles } from "../lib/render/node-files";
import { shippedTopology, SHIPPED_CLUSTERS } from "./support/specs";

/** What a leaked bootstrap secret looks like; the bootstrap simulation scans the boot logs with the same shapes. */
const SECRET_PATTERNS: [string, RegExp][] = [
  ["bootstrap token", /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/],
  ["private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ["certificate key (64 hex)", /\b[0-9a-f]{64}\b/i],
  ["AWS access key id", /\bAKIA[0-9A-Z]{16}\b/],
  ["inline kubeconfig token (a literal, not a shell variable)", /^\s*token:\s*[^\s$"]\S*/m],
  ["inline client key data", /client-key-data:\s*\S+/],
];

function findSecrets(text: string): string[] {
  return SECRET_PATTERNS.filter(([, pattern]) => pattern.test(text)).map(([what, pattern]) => `${what}: ${pattern.exec(text)?.[0]}`);
}

const cases = SHIPPED_CLUSTERS.flatMap((stack) => {
  const topology = shippedTopology(stack);
  return topology.nodes.map((node) => [stack, node.name, topology, node] as const);
});

describe.each(cases)("%s %s", (_stack, _name, topology, node) => {
  test("user-data holds no secret", () => {
    expect(findSecrets(renderUserData(topology, node))).toEqual([]);
  });

  test.each(renderNodeFiles(topology, node).map((file) => [file.path, file.content] as const))("%s holds no secret", (_path, content) => {
    expect(findSecrets(content)).toEqual([]);
  });
});

describe("negative controls: the scanner catches planted secrets", () => {
  const topology = shippedTopology("five-server");
  const clean = renderUserData(topology, topology.workers[0]);

  test.each([
    ["a bootstrap token", "token: abcdef.0123456789abcdef"],
    ["a bootstrap token inside a command", "kubeadm join --token 7f3k2a.q9w8e7r6t5y4u3i2"],
    ["a private key", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----"],
    ["a PKCS#8 private key", "-----BEGIN PRIVATE KEY-----"],
    ["a certificate key", "--certificate-key 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"],
    ["an AWS access key id", "AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP"],
  ])("%s", (_what, planted) => {
    expect(findSecrets(clean)).toEqual([]);
    const lines = clean.split("\n");
    lines.splice(Math.floor(lines.length / 2), 0, `    ${planted}`);
    expect(findSecrets(lines.join("\n")).length).toBeGreaterThan(0);
  });
});
