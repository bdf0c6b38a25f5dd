/**
 * A synthesized output folder (cdktf.out) read back for comparison: each stack's Terraform JSON
 * and its review bundle (topology.json, REVIEW.md, files/<node>/...).
 */
import * as fs from "fs";
import * as path from "path";
import type { StackJson } from "../security-rules";

export interface SynthesizedStack {
  readonly name: string;
  readonly json: StackJson;
  /** Review bundle: path relative to review/<stack>/ -> text. */
  readonly review: ReadonlyMap<string, string>;
}

export type SynthOutput = ReadonlyMap<string, SynthesizedStack>;

export function readSynthOutput(outdir: string): SynthOutput {
  const stacksDir = path.join(outdir, "stacks");
  if (!fs.existsSync(stacksDir)) throw new Error(`${outdir}: no stacks/ folder: not a synthesized output`);
  const stacks = new Map<string, SynthesizedStack>();
  for (const name of fs.readdirSync(stacksDir).sort()) {
    const file = path.join(stacksDir, name, "cdk.tf.json");
    if (!fs.existsSync(file)) continue;
    const reviewDir = path.join(outdir, "review", name);
    stacks.set(name, {
      name,
      json: JSON.parse(fs.readFileSync(file, "utf8")) as StackJson,
      review: fs.existsSync(reviewDir) ? readTree(reviewDir) : new Map(),
    });
  }
  return stacks;
}

function readTree(root: string, relative = "", into = new Map<string, string>()): Map<string, string> {
  for (const entry of fs.readdirSync(path.join(root, relative), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const child = relative ? `${relative}/${entry.name}` : entry.name;
    if (entry.isDirectory()) readTree(root, child, into);
    else into.set(child, fs.readFileSync(path.join(root, child), "utf8"));
  }
  return into;
}
