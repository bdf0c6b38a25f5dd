/**
 * npm run rotate -- <stack> [--role R] [--node N] [--dry-run] [--allow-zero-tolerance]
 * Scales control plane / external etcd to the spec one member at a time and replaces out-of-date
 * nodes one at a time (lib/day2/rotation.ts). Resumes an interrupted run from state/<stack>.rotate.json.
 */
import { rotate } from "../lib/day2/rotation";
import { CliDeps, day2Context, parseArgs, runCli } from "./day2/cli";

export function rotateMain(argv: readonly string[], deps: CliDeps = {}): Promise<number> {
  return runCli(async () => {
    const { stack, options } = parseArgs("rotate", argv, ["role", "node"], ["dry-run", "allow-zero-tolerance"]);
    const ctx = day2Context(stack, deps);
    await rotate(ctx, {
      role: options.role as string | undefined,
      node: options.node as string | undefined,
      dryRun: options["dry-run"] === true,
      allowZeroTolerance: options["allow-zero-tolerance"] === true,
    });
  }, deps.log);
}

if (require.main === module) {
  void rotateMain(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
