import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export interface CloudInitSchemaResult {
  valid: boolean;
  /** What `cloud-init schema` prints: "Valid cloud-config: <file>" or the schema errors. */
  message: string;
  /** write_files as PyYAML (cloud-init's YAML reader) loads it. */
  writeFiles: unknown;
}

/** cloud-init's own interpreter (the entry point's shebang), where its `cloudinit` package lives. */
function cloudInitPython(): string {
  const which = spawnSync("sh", ["-c", "command -v cloud-init"], { encoding: "utf8" });
  const entry = which.stdout.trim();
  if (!entry) throw new Error("cloud-init is not installed (apt-get install cloud-init)");
  const shebang = fs.readFileSync(entry, "utf8").split("\n")[0];
  const match = /^#!\s*(\S+)/.exec(shebang);
  if (!match) throw new Error(`${entry}: no interpreter line`);
  return match[1];
}

/**
 * Runs cloud-init's schema validation on every document in one process (the checks
 * `cloud-init schema --config-file` runs, minus its per-file interpreter start-up).
 */
export function cloudInitSchemaAll(workDir: string, documents: Record<string, string>): Record<string, CloudInitSchemaResult> {
  const names = Object.keys(documents);
  const files = names.map((name) => {
    const file = path.join(workDir, `${name}.yaml`);
    fs.writeFileSync(file, documents[name]);
    return file;
  });
  const result = spawnSync(cloudInitPython(), [path.join(__dirname, "cloud-init-schema.py"), ...files], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`cloud-init schema batch failed (exit ${result.status}): ${result.stderr}`);
  const parsed = JSON.parse(result.stdout) as (CloudInitSchemaResult & { file: string })[];
  if (parsed.length !== names.length) throw new Error(`cloud-init schema batch: ${parsed.length} results for ${names.length} files`);
  return Object.fromEntries(parsed.map(({ file: _file, ...rest }, index) => [names[index], rest]));
}
