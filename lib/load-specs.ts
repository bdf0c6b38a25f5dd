/** Reads every cluster spec in a folder; all are validated before anything is synthesized. */
import * as fs from "fs";
import * as path from "path";
import { SpecError, validateSpec, ValidatedSpec, ValidateOptions } from "./validate";

export interface LoadedSpec extends ValidatedSpec {
  /** The file, as the user named it (relative to the working directory when possible). */
  readonly file: string;
}

export class SpecLoadError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "SpecLoadError";
  }
}

const SPEC_FILE = /\.ya?ml$/;

/** Loads `<dir>/*.yaml`; throws SpecLoadError naming every bad file, field and value. */
export function loadClusterSpecs(dir: string, options: ValidateOptions = {}): LoadedSpec[] {
  // Relative to the working directory when inside it, else absolute: what the user can open.
  const relative = path.relative(process.cwd(), dir);
  const shownDir = relative === "" ? "." : relative.startsWith("..") ? path.resolve(dir) : relative;
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new SpecLoadError([`${shownDir}: not a folder of cluster specs (set CLUSTERS_DIR to a folder of <name>.yaml files)`]);
  }
  const files = fs.readdirSync(dir).filter((name) => SPEC_FILE.test(name)).sort();
  if (files.length === 0) {
    throw new SpecLoadError([`${shownDir}: no cluster specs (*.yaml) found`]);
  }
  const problems: string[] = [];
  const loaded: LoadedSpec[] = [];
  const byName = new Map<string, string>();
  for (const fileName of files) {
    const file = path.join(shownDir, fileName);
    const name = fileName.replace(SPEC_FILE, "");
    const previous = byName.get(name);
    if (previous) {
      problems.push(`${file}: (file name): "${name}": stack name already used by ${previous}; keep one file per stack`);
      continue;
    }
    byName.set(name, file);
    try {
      loaded.push({ file, ...validateSpec(file, name, fs.readFileSync(path.join(dir, fileName), "utf8"), options) });
    } catch (error) {
      if (error instanceof SpecError) problems.push(error.message);
      else throw error;
    }
  }
  if (problems.length > 0) throw new SpecLoadError(problems);
  return loaded;
}
