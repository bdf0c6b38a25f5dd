/**
 * The boot scripts' form, checked without running them: every template is strict bash, and what a
 * node receives (comment-free, tab-indented) still parses. shellcheck.test.ts lints them with the
 * real shellcheck (in `npm run test:integration`).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { installedScript } from "../lib/render/node-files";
import { REPO_ROOT } from "./support/specs";

const TEMPLATES = path.join(REPO_ROOT, "templates");
const scripts = fs.readdirSync(TEMPLATES).filter((name) => name.endsWith(".sh")).sort();

test("templates hold the boot scripts", () => {
  expect(scripts).toEqual(expect.arrayContaining([
    "boot.sh", "common.sh", "install-kubernetes.sh", "init-control-plane.sh", "join-node.sh", "refresh-join-token.sh",
    "load-balancer.sh", "etcd-node.sh",
  ]));
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
