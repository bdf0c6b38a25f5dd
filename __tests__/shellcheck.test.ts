import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { installedScript } from "../lib/render/node-files";
import { REPO_ROOT } from "./support/specs";

const TEMPLATES = path.join(REPO_ROOT, "templates");
const scripts = fs.readdirSync(TEMPLATES).filter((name) => name.endsWith(".sh")).sort();

function shellcheck(files: string[], cwd: string) {
  // -x follows `source` into common.sh; the scripts' own directives say where it is.
  return spawnSync("shellcheck", ["-x", "--format=gcc", ...files], { cwd, encoding: "utf8" });
}

test("templates hold the boot scripts", () => {
  expect(scripts).toEqual(expect.arrayContaining([
    "boot.sh", "common.sh", "install-kubernetes.sh", "init-control-plane.sh", "join-node.sh", "refresh-join-token.sh",
    "load-balancer.sh", "etcd-node.sh",
  ]));
});

test("shellcheck passes on scripts/get-kubeconfig.sh and restore-etcd.sh (run by the operator)", () => {
  const result = shellcheck(["get-kubeconfig.sh", "restore-etcd.sh"], path.join(REPO_ROOT, "scripts"));
  expect(`${result.stdout}${result.stderr}`).toBe("");
  expect(result.status).toBe(0);
});

test.each(scripts)("shellcheck passes on templates/%s", (name) => {
  const result = shellcheck([name], TEMPLATES);
  expect(result.error).toBeUndefined();
  expect(`${result.stdout}${result.stderr}`).toBe("");
  expect(result.status).toBe(0);
});

// common.sh and renew-etcd-client.sh are sourced, not run (`# shellcheck shell=bash`, no shebang).
const sourced = (name: string) => fs.readFileSync(path.join(TEMPLATES, name), "utf8").startsWith("# shellcheck shell=bash\n");
test.each(scripts.filter((name) => !sourced(name)))("templates/%s is strict bash", (name) => {
  const text = fs.readFileSync(path.join(TEMPLATES, name), "utf8");
  expect(text.startsWith("#!/usr/bin/env bash\n")).toBe(true);
  expect(text).toMatch(/^set -euo pipefail$/m);
});

test.each(scripts)("the installed (comment-free) templates/%s still parses", (name) => {
  const installed = installedScript(name, fs.readFileSync(path.join(TEMPLATES, name), "utf8"));
  const result = spawnSync("bash", ["-n"], { input: installed, encoding: "utf8" });
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
});

test("negative control: shellcheck flags a broken script", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shellcheck-"));
  try {
    fs.writeFileSync(path.join(dir, "bad.sh"), "#!/usr/bin/env bash\nrm -rf $1/*\n");
    const result = shellcheck(["bad.sh"], dir);
    expect(result.status).not.toBe(0);
    expect(result.stdout).toMatch(/SC2086/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
