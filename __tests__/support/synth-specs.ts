/** Synthesizing inline specs with the real app, for the Terraform plan tests. */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { synthesizeClusters } from "../../lib/app";

/**
 * Synthesizes spec files (name -> YAML text) with the real app into a fresh folder under
 * os.tmpdir(); returns each stack's folder (outdir/stacks/<name>) by name.
 */
export function synthesizeSpecs(specs: Readonly<Record<string, string>>, label = "specs"): Record<string, string> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `${label}-`));
  const clustersDir = path.join(root, "clusters");
  fs.mkdirSync(clustersDir);
  for (const [name, text] of Object.entries(specs)) fs.writeFileSync(path.join(clustersDir, `${name}.yaml`), text);
  const outdir = path.join(root, "out");
  synthesizeClusters({ clustersDir, outdir });
  return Object.fromEntries(Object.keys(specs).map((name) => [name, path.join(outdir, "stacks", name)]));
}
