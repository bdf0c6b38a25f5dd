/**
 * Deploy gate: every stack the workflow deploys must keep its state in S3. A GitHub runner's disk
 * is gone when the job ends, so local state would be lost and the next deploy would try to create
 * the whole cluster again. Reads the synthesized stacks; prints one line per problem.
 *
 *   node -r ./scripts/register.js scripts/ci/require-remote-state.ts [outdir] stack...
 */
import * as fs from "fs";
import * as path from "path";

export function remoteStateProblems(outdir: string, stacks: readonly string[]): string[] {
  if (stacks.length === 0) return ["no stack named: set the repository variable DEPLOY_STACKS to the stacks to deploy (space-separated)"];
  const problems: string[] = [];
  for (const stack of stacks) {
    const file = path.join(outdir, "stacks", stack, "cdk.tf.json");
    if (!fs.existsSync(file)) {
      problems.push(`${stack}: no synthesized stack at ${file} (is there a clusters/${stack}.yaml?)`);
      continue;
    }
    const backend = (JSON.parse(fs.readFileSync(file, "utf8")) as { terraform?: { backend?: Record<string, unknown> } }).terraform?.backend ?? {};
    const kinds = Object.keys(backend);
    if (!kinds.includes("s3")) {
      problems.push(
        `clusters/${stack}.yaml: state.backend: ${JSON.stringify(kinds[0] ?? "local")}: CI deploys need state.backend: s3 ` +
          "(with state.bucket); a runner's local state is lost when the job ends",
      );
    }
  }
  return problems;
}

if (require.main === module) {
  const [outdir, ...stacks] = process.argv.slice(2);
  const problems = remoteStateProblems(outdir ?? "cdktf.out", stacks.flatMap((s) => s.split(/\s+/)).filter(Boolean));
  for (const problem of problems) console.error(`error: ${problem}`);
  if (problems.length === 0) console.log(`remote state: ${stacks.join(" ")} keep their state in S3`);
  process.exitCode = problems.length > 0 ? 1 : 0;
}
