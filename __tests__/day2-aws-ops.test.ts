/**
 * The real day-2 ops with a fake runner: the exact terraform and aws command lines, SSM Run
 * Command polling, and the parsing of etcdctl and kubectl output. Nothing runs.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AwsOps, parseEtcdStatus, parseKubeNodes } from "../scripts/day2/aws-ops";
import type { Runner, RunResult } from "../scripts/day2/runner";
import { shippedTopology } from "./support/specs";

function fakeRunner(answer: (command: string, args: readonly string[]) => Partial<RunResult>): Runner & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    async run(command, args) {
      calls.push([command, ...args]);
      return { code: 0, stdout: "", stderr: "", ...answer(command, args) };
    },
  };
}

const topology = shippedTopology("five-server");
const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "aws-ops-"));
afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));
const stackDir = path.join(outdir, "stacks", "five-server");
fs.mkdirSync(stackDir, { recursive: true });
fs.writeFileSync(path.join(stackDir, "cdk.tf.json"), JSON.stringify({
  resource: { aws_instance: { "cluster_nodes_control-plane-2_7352AD97": { tags: { Name: "five-server-control-plane-2" } } } },
}));
const state = {
  values: {
    root_module: {
      resources: [
        { type: "aws_instance", name: "cluster_nodes_control-plane-2_7352AD97", values: { id: "i-0abc", tags: { Name: "five-server-control-plane-2", Role: "control-plane" } } },
        { type: "terraform_data", name: "node_config_control-plane-2", values: { output: { digest: "d1" } } },
        { type: "aws_instance", name: "other_stack", values: { id: "i-0zzz", tags: { Name: "prod-worker-1", Role: "worker" } } },
      ],
    },
  },
};

test("inventory reads instances and their recorded digests from terraform show -json", async () => {
  const runner = fakeRunner(() => ({ stdout: JSON.stringify(state) }));
  const ops = new AwsOps({ topology, runner, repoRoot: "/repo", outdir });
  expect(await ops.inventory()).toEqual([{ name: "control-plane-2", role: "control-plane", instanceId: "i-0abc", recordedDigest: "d1" }]);
  expect(runner.calls[0]).toEqual(["terraform", `-chdir=${stackDir}`, "show", "-json"]);
});

test("replaceInstance applies -replace of that one instance, targeted to it and its record", async () => {
  const runner = fakeRunner(() => ({}));
  await new AwsOps({ topology, runner, repoRoot: "/repo", outdir }).replaceInstance("control-plane-2");
  expect(runner.calls).toEqual([[
    "terraform", `-chdir=${stackDir}`, "apply", "-input=false", "-auto-approve",
    "-replace=aws_instance.cluster_nodes_control-plane-2_7352AD97",
    "-target=aws_instance.cluster_nodes_control-plane-2_7352AD97",
    "-target=terraform_data.node_config_control-plane-2",
  ]]);
});

test("remote runs AWS-RunShellScript on the node's instance and polls until it finishes", async () => {
  let polls = 0;
  const runner = fakeRunner((command, args) => {
    if (command === "terraform") return { stdout: JSON.stringify(state) };
    if (args[1] === "send-command") return { stdout: JSON.stringify({ Command: { CommandId: "c-1" } }) };
    polls++;
    if (polls === 1) return { code: 254, stderr: "InvocationDoesNotExist" };
    if (polls === 2) return { stdout: JSON.stringify({ Status: "InProgress", StandardOutputContent: "", StandardErrorContent: "" }) };
    return { stdout: JSON.stringify({ Status: "Success", StandardOutputContent: "ok\n", StandardErrorContent: "" }) };
  });
  const ops = new AwsOps({ topology, runner, repoRoot: "/repo", outdir, sleep: async () => undefined });
  await ops.kubeadmReset("control-plane-2");
  const send = runner.calls.find((call) => call[2] === "send-command")!;
  expect(send).toEqual(expect.arrayContaining(["--region", "eu-west-1", "--instance-ids", "i-0abc", "--document-name", "AWS-RunShellScript"]));
  expect(JSON.parse(send[send.indexOf("--parameters") + 1])).toEqual({ commands: ["set -euo pipefail", "kubeadm reset -f"], executionTimeout: ["600"] });
  expect(polls).toBe(3);
});

test("a failed command throws with the node and the end of its stderr", async () => {
  const runner = fakeRunner((command, args) => {
    if (command === "terraform") return { stdout: JSON.stringify(state) };
    if (args[1] === "send-command") return { stdout: JSON.stringify({ Command: { CommandId: "c-1" } }) };
    return { stdout: JSON.stringify({ Status: "Failed", StandardOutputContent: "", StandardErrorContent: "error: node not found\n" }) };
  });
  const ops = new AwsOps({ topology, runner, repoRoot: "/repo", outdir, sleep: async () => undefined });
  await expect(ops.drain("control-plane-2", "worker-9")).rejects.toThrow("control-plane-2: Failed: error: node not found");
});

test("etcdctl member list and endpoint health, kubectl custom columns", () => {
  const list = [
    "8e9e05c52164694d, started, control-plane-1, https://10.0.0.20:2380, https://10.0.0.20:2379, false",
    "91bc3c398fb3c146, unstarted, , https://10.0.32.20:2380, , true",
  ].join("\n");
  const health = JSON.stringify([{ endpoint: "https://10.0.0.20:2379", health: true }]);
  expect(parseEtcdStatus(list, health)).toEqual([
    { id: "8e9e05c52164694d", name: "control-plane-1", peerUrl: "https://10.0.0.20:2380", started: true, learner: false, healthy: true },
    { id: "91bc3c398fb3c146", name: "", peerUrl: "https://10.0.32.20:2380", started: false, learner: true, healthy: false },
  ]);
  expect(parseKubeNodes("control-plane-1   True    <none>   v1.35.0\nworker-1   False   true   v1.34.2\n")).toEqual([
    { name: "control-plane-1", ready: true, unschedulable: false, kubeletVersion: "v1.35.0" },
    { name: "worker-1", ready: false, unschedulable: true, kubeletVersion: "v1.34.2" },
  ]);
});
