/**
 * npm run outdated -- <stack>: the nodes whose recorded configuration (terraform_data.node_config_*
 * in the state) differs from what the spec renders now, and the membership steps scaling needs.
 * Exit code 0 when all is current, 3 when something waits for `npm run rotate`.
 */
import { outOfDateNodes, planRotation } from "../lib/day2/rotation";
import { CliDeps, day2Context, parseArgs, runCli } from "./day2/cli";

export async function outdatedMain(argv: readonly string[], deps: CliDeps = {}): Promise<number> {
  let pending = false;
  const log = deps.log ?? ((line: string) => console.log(line));
  const code = await runCli(async () => {
    const { stack } = parseArgs("outdated", argv, [], []);
    const ctx = day2Context(stack, { ...deps, log });
    const deployed = await ctx.ops.inventory();
    const stale = outOfDateNodes(ctx.topology, ctx.digests, deployed);
    const steps = (await planRotation(ctx, {})).filter((step) => step.kind !== "replace");
    const missing = ctx.topology.nodes.filter((node) => node.role === "worker" && !deployed.some((d) => d.name === node.name));
    for (const node of stale) log(`out of date: ${node.name} (${node.role})`);
    for (const step of steps) log(`membership: ${step.kind === "grow" ? "add" : "remove"} ${step.node} (${step.role} to ${step.count})`);
    for (const node of missing) log(`not deployed: ${node.name} (worker; terraform apply creates it)`);
    // The group's instances are not in the state: each boots the launch template's latest version.
    const group = ctx.topology.workerAutoScaling;
    if (group) {
      log(
        `not tracked: the ${stack}-${group.template.name} Auto Scaling group's instances (rotate and upgrade leave them alone); ` +
          `a launch template change reaches new instances only: aws autoscaling start-instance-refresh --auto-scaling-group-name ${stack}-${group.template.name}`,
      );
    }
    pending = stale.length > 0 || steps.length > 0;
    log(pending ? `run: npm run rotate -- ${stack} (add --dry-run to see the steps)` : `${stack}: every node runs the spec's configuration`);
  }, deps.log);
  return code === 0 && pending ? 3 : code;
}

if (require.main === module) {
  void outdatedMain(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
