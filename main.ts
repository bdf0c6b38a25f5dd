/**
 * The cdktf app: one Terraform stack per cluster spec in clusters/ (or CLUSTERS_DIR), plus the
 * review bundle in <outdir>/review/. Run by `npm run synth` directly and by `cdktf synth`.
 */
// First: cdktf's own deprecation warnings must be filtered before cdktf loads.
import "./lib/cdktf-deprecations";
import { synthCommand } from "./lib/synth-command";

// Outside the module loader's call stack: cdktf captures a stack trace for every token it makes,
// and a shallower stack makes each capture cheaper.
setImmediate(() => {
  process.exitCode = synthCommand(process.env, { out: (line) => console.log(line), err: (line) => console.error(line) });
});
