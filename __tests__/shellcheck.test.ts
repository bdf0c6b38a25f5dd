/**
 * Every script, as written in templates/ and scripts/ and as each node receives it, through the
 * real shellcheck. Some 3 s of shellcheck's CPU: run by `npm run test:integration` (jest.slow-suites.js);
 * scripts.test.ts keeps the quick checks of the scripts' form in `npm test`.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderNodeFiles, SCRIPT_DIR } from "../lib/render/node-files";
import { inlineTopology, REPO_ROOT, shippedTopology, SHIPPED_CLUSTERS } from "./support/specs";

const TEMPLATES = path.join(REPO_ROOT, "templates");
const scripts = fs.readdirSync(TEMPLATES).filter((name) => name.endsWith(".sh")).sort();

function shellcheck(files: string[], cwd: string) {
  // -x follows `source` into common.sh; the scripts' own directives say where it is.
  return spawnSync("shellcheck", ["-x", "--format=gcc", ...files], { cwd, encoding: "utf8" });
}

test("shellcheck passes on scripts/get-kubeconfig.sh and restore-etcd.sh (run by the operator)", () => {
  const result = shellcheck(["get-kubeconfig.sh", "restore-etcd.sh"], path.join(REPO_ROOT, "scripts"));
  expect(`${result.stdout}${result.stderr}`).toBe("");
  expect(result.status).toBe(0);
});

// One shellcheck process for every template (gcc format: one `file:line:col: level: message` per finding).
let templates: ReturnType<typeof shellcheck>;
beforeAll(() => {
  templates = shellcheck(scripts, TEMPLATES);
});

test("shellcheck over every template reports nothing and exits 0", () => {
  expect(templates.error).toBeUndefined();
  expect(`${templates.stdout}${templates.stderr}`).toBe("");
  expect(templates.status).toBe(0);
});

test.each(scripts)("shellcheck passes on templates/%s", (name) => {
  const findings = templates.stdout.split("\n").filter((line) => line.startsWith(`${name}:`));
  expect(findings).toEqual([]);
});

// What a node receives (comment-stripped, tab-indented) must pass the shellcheck the templates pass.
// Every node of every cluster gets the same bytes for a script of a given name (checked here), so
// one shellcheck run over the union of what the nodes receive covers each of them.
test("shellcheck -S warning passes on every script as the nodes receive it", () => {
  const topologies = [
    ...SHIPPED_CLUSTERS.map((stack) => shippedTopology(stack)),
    inlineTopology("flannel-nginx", "cni:\n  plugin: flannel\nloadBalancer:\n  kind: nginx\n"),
  ];
  const received = new Map<string, string>();
  for (const topology of topologies) {
    // The Auto Scaling group's launch template too (node-identity.sh is only there).
    for (const node of [...topology.nodes, ...(topology.workerAutoScaling ? [topology.workerAutoScaling.template] : [])]) {
      for (const file of renderNodeFiles(topology, node)) {
        if (!file.path.startsWith(`${SCRIPT_DIR}/`)) continue;
        const name = path.posix.basename(file.path);
        expect({ name, content: received.get(name) ?? file.content }).toEqual({ name, content: file.content });
        received.set(name, file.content);
      }
    }
  }
  expect([...received.keys()].sort()).toEqual(scripts);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "installed-scripts-"));
  try {
    for (const [name, content] of received) fs.writeFileSync(path.join(dir, name), content);
    const result = spawnSync("shellcheck", ["-x", "-S", "warning", "--format=gcc", ...received.keys()], { cwd: dir, encoding: "utf8" });
    expect(result.error).toBeUndefined();
    expect(`${result.stdout}${result.stderr}`).toBe("");
    expect(result.status).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("negative control: shellcheck flags a broken script", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shellcheck-"));
  try {
    fs.writeFileSync(path.join(dir, "bad.sh"), "#!/usr/bin/env bash\nrm -rf $1/*\n");
    fs.writeFileSync(path.join(dir, "good.sh"), '#!/usr/bin/env bash\nrm -rf "${1:?}"/*\n');
    // Batched as the templates are: the finding is attributed to its file, the clean file has none.
    const result = shellcheck(["good.sh", "bad.sh"], dir);
    expect(result.status).not.toBe(0);
    expect(result.stdout).toMatch(/^bad\.sh:2:\d+: .*SC2086/m);
    expect(result.stdout).not.toMatch(/^good\.sh:/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
