/**
 * npm run upgrade -- <stack> --to 1.MINOR.PATCH [--dry-run]
 * kubeadm's upgrade sequence over SSM Run Command, one node at a time, then the spec's
 * ClusterConfiguration to the running control plane (lib/day2/upgrade.ts). `--to` the running
 * version only reconfigures. Resumes an interrupted run from state/<stack>.upgrade.json.
 */
import { renderCluster } from "../lib/render/cluster";
import { Day2Error } from "../lib/day2/cluster-ops";
import { topologyAtVersion, upgrade } from "../lib/day2/upgrade";
import { CliDeps, day2Context, parseArgs, runCli } from "./day2/cli";

export function upgradeMain(argv: readonly string[], deps: CliDeps = {}): Promise<number> {
  return runCli(async () => {
    const { stack, options } = parseArgs("upgrade", argv, ["to"], ["dry-run"]);
    if (typeof options.to !== "string") throw new Day2Error("--to 1.MINOR.PATCH is required, e.g. npm run upgrade -- five-server --to 1.35.1");
    const ctx = day2Context(stack, deps);
    await upgrade(ctx, {
      to: options.to,
      dryRun: options["dry-run"] === true,
      digestsAt: (version) => renderCluster(topologyAtVersion(ctx.topology, version)).digests,
    });
  }, deps.log);
}

if (require.main === module) {
  void upgradeMain(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
