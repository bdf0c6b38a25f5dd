/**
 * `npm run synth` (and `cdktf synth`, which runs main.ts): the environment's settings read and
 * checked, the stacks and review bundle written, warnings and errors printed; returns the exit code.
 */
import * as path from "path";
import { synthesizeClusters } from "./app";
import { SpecLoadError } from "./load-specs";
import { GuardLiftError, guardLiftsFromEnv } from "./day2/guard-lift";
import { strictFromEnvironment } from "./validate";

export interface SynthCommandIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/**
 * CLUSTERS_DIR (default `<repo>/clusters`), CDKTF_OUTDIR, KUBEADM_HA_STRICT and the guard lifts
 * come from `env`; `cwd` only shortens the printed output folder.
 */
export function synthCommand(env: NodeJS.ProcessEnv, io: SynthCommandIo, cwd = process.cwd()): number {
  const clustersDir = path.resolve(env.CLUSTERS_DIR ?? path.join(__dirname, "..", "clusters"));
  const strict = strictFromEnvironment(env.KUBEADM_HA_STRICT);
  if (typeof strict === "string") {
    io.err(`error: ${strict}; no stack was written`);
    return 1;
  }
  try {
    const result = synthesizeClusters({ clustersDir, outdir: env.CDKTF_OUTDIR, guardLifts: guardLiftsFromEnv(env), strict });
    // Under `cdktf synth` the CLI prints the stacks' warning annotations itself (and shows anything
    // on stderr as an error), so the warnings are printed here only for direct runs.
    const underCli = env.CDKTF_CONTEXT_JSON !== undefined;
    for (const stack of underCli ? [] : result.stacks) {
      for (const warning of stack.warnings) io.err(`warning: ${stack.name} (${stack.file}): ${warning}`);
    }
    const outdir = path.relative(cwd, result.outdir) || ".";
    io.out(`synthesized ${result.stacks.map((s) => s.name).join(", ")} -> ${outdir}/stacks, review bundle -> ${outdir}/review`);
    return 0;
  } catch (error) {
    if (error instanceof SpecLoadError) {
      io.err("error: invalid cluster spec; no stack was written");
      for (const problem of error.problems) io.err(problem);
      return 1;
    }
    if (error instanceof GuardLiftError) {
      io.err(`error: ${error.message}; no stack was written`);
      return 1;
    }
    throw error;
  }
}
