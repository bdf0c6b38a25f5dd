/**
 * A node's files exactly as its user-data writes them, under a sandbox root (KUBEADM_HA_ROOT), for
 * tests that run one of its scripts with fakes on PATH.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { gunzipSync } from "zlib";
import { parse } from "yaml";
import { renderUserData } from "../../lib/render/user-data";
import type { ClusterNode, Topology } from "../../lib/topology";

export const SCRIPT_DIR = "usr/local/lib/kubeadm-ha";

/** What cloud-init's write_files does (gz+b64 entries decoded); returns the root. */
export function provisionNode(topology: Topology, node: ClusterNode, root: string): string {
  const document = parse(renderUserData(topology, node)) as { write_files: { path: string; content: string; encoding?: string }[] };
  for (const file of document.write_files) {
    const target = path.join(root, file.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, file.encoding === "gz+b64" ? gunzipSync(Buffer.from(file.content, "base64")) : file.content);
  }
  return root;
}

/** Writes each fake as an executable bash script (`set -euo pipefail` first). */
export function installFakes(bin: string, fakes: Record<string, string>): void {
  fs.mkdirSync(bin, { recursive: true });
  for (const [name, body] of Object.entries(fakes)) {
    const text = body.startsWith("#!") ? body : `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`;
    fs.writeFileSync(path.join(bin, name), text, { mode: 0o755 });
  }
}

/** Runs the node's installed script synchronously, bounded in time. */
export function runNodeScript(root: string, script: string, bin: string, env: Record<string, string>, timeoutMs = 30_000) {
  const result = spawnSync("bash", [path.join(root, SCRIPT_DIR, script)], {
    encoding: "utf8",
    timeout: timeoutMs,
    env: { PATH: `${bin}:/usr/bin:/bin`, HOME: root, LANG: "C", KUBEADM_HA_ROOT: root, KUBEADM_HA_POLL_SECONDS: "0.1", ...env },
  });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

export function nodeLog(root: string): string {
  const file = path.join(root, "var/log/kubeadm-ha-bootstrap.log");
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
}
