/**
 * The cdktf app: one Terraform stack per cluster spec in clusters/ (or CLUSTERS_DIR), plus the
 * review bundle in <outdir>/review/. Run by `npm run synth` directly and by `cdktf synth`.
 */
// First: cdktf's own deprecation warnings must be filtered before cdktf loads.
import "./lib/cdktf-deprecations";
import * as path from "path";
import { synthesizeClusters } from "./lib/app";
import { SpecLoadError } from "./lib/load-specs";
import { GuardLiftError, guardLiftsFromEnv } from "./lib/day2/guard-lift";
import { strictFromEnvironment } from "./lib/validate";

function main(): number {
  const clustersDir = path.resolve(process.env.CLUSTERS_DIR ?? path.join(__dirname, "clusters"));
  const strict = strictFromEnvironment(process.env.KUBEADM_HA_STRICT);
  if (typeof strict === "string") {
    console.error(`error: ${strict}; no stack was written`);
    return 1;
  }
  try {
    const result = synthesizeClusters({ clustersDir, outdir: process.env.CDKTF_OUTDIR, guardLifts: guardLiftsFromEnv(process.env), strict });
    // Under `cdktf synth` the CLI prints the stacks' warning annotations itself (and shows anything
    // on stderr as an error), so the warnings are printed here only for direct runs.
    const underCli = process.env.CDKTF_CONTEXT_JSON !== undefined;
    for (const stack of underCli ? [] : result.stacks) {
      for (const warning of stack.warnings) console.error(`warning: ${stack.name} (${stack.file}): ${warning}`);
    }
    const outdir = path.relative(process.cwd(), result.outdir) || ".";
    console.log(`synthesized ${result.stacks.map((s) => s.name).join(", ")} -> ${outdir}/stacks, review bundle -> ${outdir}/review`);
    return 0;
  } catch (error) {
    if (error instanceof SpecLoadError) {
      console.error("error: invalid cluster spec; no stack was written");
      for (const problem of error.problems) console.error(problem);
      return 1;
    }
    if (error instanceof GuardLiftError) {
      console.error(`error: ${error.message}; no stack was written`);
      return 1;
    }
    throw error;
  }
}

// Outside the module loader's call stack: cdktf captures a stack trace for every token it makes,
// and a shallower stack makes each capture cheaper.
setImmediate(() => {
  process.exitCode = main();
});
