/**
 * Compares two synth output folders (stacks, review bundle, manifest) file by file. JSON files are
 * compared as data, so a difference is reported by its path (`terraform.required_providers.aws.version`),
 * and a caller can allow a few known paths, such as the provider and framework version lines.
 */
import * as fs from "fs";
import * as path from "path";

export interface ValueChange {
  readonly file: string;
  /** Dotted path inside a JSON file; "" for a whole non-JSON file. */
  readonly path: string;
  readonly before: unknown;
  readonly after: unknown;
}

export interface SynthDiff {
  readonly identicalFiles: number;
  readonly onlyBefore: readonly string[];
  readonly onlyAfter: readonly string[];
  /** Differences at allowed paths. */
  readonly allowed: readonly ValueChange[];
  /** Every other difference. */
  readonly unexpected: readonly ValueChange[];
}

/** A JSON path that may differ. */
export interface AllowedChange {
  readonly file: RegExp;
  readonly path: RegExp;
  /** Allow the change only when this holds (e.g. two spellings of one provider address). */
  readonly when?: (before: unknown, after: unknown) => boolean;
}

export function listFiles(dir: string, prefix = ""): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory() ? listFiles(path.join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
    )
    .sort();
}

export function diffSynthOutputs(beforeDir: string, afterDir: string, allow: readonly AllowedChange[]): SynthDiff {
  const before = listFiles(beforeDir);
  const after = new Set(listFiles(afterDir));
  const changes: ValueChange[] = [];
  let identicalFiles = 0;
  for (const file of before.filter((f) => after.has(f))) {
    const a = fs.readFileSync(path.join(beforeDir, file), "utf8");
    const b = fs.readFileSync(path.join(afterDir, file), "utf8");
    if (a === b) {
      identicalFiles += 1;
    } else if (file.endsWith(".json")) {
      changes.push(...jsonChanges(file, JSON.parse(a), JSON.parse(b), []));
    } else {
      changes.push({ file, path: "", before: `${a.length} characters`, after: `${b.length} characters` });
    }
  }
  const isAllowed = (change: ValueChange) =>
    allow.some((rule) => rule.file.test(change.file) && rule.path.test(change.path) && (rule.when?.(change.before, change.after) ?? true));
  return {
    identicalFiles,
    onlyBefore: before.filter((f) => !after.has(f)),
    onlyAfter: [...after].filter((f) => !before.includes(f)).sort(),
    allowed: changes.filter(isAllowed),
    unexpected: changes.filter((change) => !isAllowed(change)),
  };
}

function jsonChanges(file: string, a: unknown, b: unknown, at: string[]): ValueChange[] {
  const bothObjects = a !== null && b !== null && typeof a === "object" && typeof b === "object" && Array.isArray(a) === Array.isArray(b);
  if (!bothObjects) return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ file, path: at.join("."), before: a, after: b }];
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])];
  return keys.flatMap((key) => jsonChanges(file, left[key], right[key], [...at, key]));
}

/** One line per fact, for a terminal. */
export function formatSynthDiff(diff: SynthDiff): string[] {
  const show = (value: unknown) => (value === undefined ? "(absent)" : JSON.stringify(value));
  const line = (change: ValueChange) => `  ${change.file}${change.path ? `: ${change.path}` : ""}: ${show(change.before)} -> ${show(change.after)}`;
  return [
    `${diff.identicalFiles} file(s) identical`,
    ...(diff.allowed.length > 0 ? [`${diff.allowed.length} allowed difference(s) (provider and framework version lines, provider address spelling):`, ...diff.allowed.map(line)] : []),
    ...diff.onlyBefore.map((file) => `  only in the cdktf output: ${file}`),
    ...diff.onlyAfter.map((file) => `  only in the cdktn output: ${file}`),
    ...(diff.unexpected.length > 0 ? [`${diff.unexpected.length} unexpected difference(s):`, ...diff.unexpected.slice(0, 40).map(line)] : []),
    ...(diff.unexpected.length > 40 ? [`  ... and ${diff.unexpected.length - 40} more`] : []),
  ];
}

export function isClean(diff: SynthDiff): boolean {
  return diff.unexpected.length === 0 && diff.onlyBefore.length === 0 && diff.onlyAfter.length === 0;
}
