/**
 * ClusterOps with the real tools: Terraform in the stack's folder for state and applies, and SSM
 * Run Command (AWS-RunShellScript) for everything on the nodes: kubectl with the node's
 * admin.conf, etcdctl (in the etcd static pod when stacked, the release binary when external),
 * kubeadm and apt. No secret passes through: commands read certificates where they are on the node.
 */
import * as fs from "fs";
import * as path from "path";
import type { ClusterOps, DeployedNode, EtcdMemberStatus, KubeNodeStatus } from "../../lib/day2/cluster-ops";
import { Day2Error } from "../../lib/day2/cluster-ops";
import { guardLiftEnv, GuardLift } from "../../lib/day2/guard-lift";
import { nodeConfigResourceName } from "../../lib/day2/node-digest";
import type { NodeRole, Topology } from "../../lib/topology";
import { mustRun, Runner } from "./runner";

export interface AwsOpsConfig {
  readonly topology: Topology;
  readonly runner: Runner;
  /** The repository root: where synth runs. */
  readonly repoRoot: string;
  /** cdktf output folder (cdktf.out). */
  readonly outdir: string;
  /** Seconds between get-command-invocation polls. @default 3 */
  readonly pollSeconds?: number;
  readonly sleep?: (seconds: number) => Promise<void>;
}

const KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf";
const STACKED_ETCDCTL =
  'crictl --runtime-endpoint unix:///run/containerd/containerd.sock exec "$(crictl --runtime-endpoint unix:///run/containerd/containerd.sock ps -q --name "^etcd$" | head -n1)" ' +
  "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt " +
  "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key";
const EXTERNAL_ETCDCTL =
  "/usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/etcd/pki/ca.crt --cert=/etc/etcd/pki/server.crt --key=/etc/etcd/pki/server.key";

/** Single quotes for bash. */
export function shq(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `etcdctl member list` (simple) and `endpoint health --cluster -w json` output -> statuses. */
export function parseEtcdStatus(memberList: string, healthJson: string): EtcdMemberStatus[] {
  let health: { endpoint: string; health: boolean }[] = [];
  try {
    health = JSON.parse(healthJson || "[]");
  } catch {
    health = [];
  }
  return memberList
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [id, status, name, peerUrls, clientUrls, learner] = line.split(",").map((field) => field.trim());
      const clients = (clientUrls ?? "").split(/\s+/).filter(Boolean);
      return {
        id,
        name: name ?? "",
        peerUrl: (peerUrls ?? "").split(/\s+/)[0] ?? "",
        started: status === "started",
        learner: learner === "true",
        healthy: health.some((entry) => entry.health && clients.includes(entry.endpoint)),
      };
    });
}

/** custom-columns NAME READY UNSCHEDULABLE VERSION -> statuses. */
export function parseKubeNodes(text: string): KubeNodeStatus[] {
  return text
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 4)
    .map(([name, ready, unschedulable, kubeletVersion]) => ({ name, ready: ready === "True", unschedulable: unschedulable === "true", kubeletVersion }));
}

export class AwsOps implements ClusterOps {
  private readonly stack: string;
  private readonly stackDir: string;

  constructor(private readonly config: AwsOpsConfig) {
    this.stack = config.topology.stack;
    this.stackDir = path.join(config.outdir, "stacks", this.stack);
  }

  private get runner(): Runner {
    return this.config.runner;
  }

  private terraform(args: readonly string[], echo = false): Promise<string> {
    return mustRun(this.runner, "terraform", [`-chdir=${this.stackDir}`, ...args], { echo, env: { CHECKPOINT_DISABLE: "1" } });
  }

  async inventory(): Promise<DeployedNode[]> {
    const state = JSON.parse(await this.terraform(["show", "-json"])) as {
      values?: { root_module?: { resources?: { type: string; name: string; values: Record<string, any> }[] } }; // eslint-disable-line @typescript-eslint/no-explicit-any
    };
    const resources = state.values?.root_module?.resources ?? [];
    const prefix = `${this.stack}-`;
    return resources
      .filter((resource) => resource.type === "aws_instance" && String(resource.values.tags?.Name ?? "").startsWith(prefix))
      .map((resource) => {
        const name = String(resource.values.tags.Name).slice(prefix.length);
        const record = resources.find((candidate) => candidate.type === "terraform_data" && candidate.name === nodeConfigResourceName(name));
        return {
          name,
          role: resource.values.tags.Role as NodeRole,
          instanceId: String(resource.values.id),
          recordedDigest: record?.values.output?.digest,
        };
      });
  }

  private async instanceId(node: string): Promise<string> {
    const found = (await this.inventory()).find((candidate) => candidate.name === node);
    if (!found) throw new Day2Error(`${node}: no instance in the Terraform state of ${this.stack}`);
    return found.instanceId;
  }

  /** Runs a bash script on the node with SSM Run Command and returns its stdout; throws on failure. */
  async remote(node: string, script: string, timeoutSeconds = 1800): Promise<string> {
    const instanceId = await this.instanceId(node);
    const region = this.config.topology.spec.region;
    const parameters = JSON.stringify({ commands: ["set -euo pipefail", script], executionTimeout: [String(timeoutSeconds)] });
    const sent = JSON.parse(
      await mustRun(this.runner, "aws", [
        "ssm", "send-command", "--region", region, "--instance-ids", instanceId, "--document-name", "AWS-RunShellScript",
        "--comment", `kubeadm-ha day 2 on ${this.stack}/${node}`, "--parameters", parameters, "--output", "json",
      ]),
    ) as { Command: { CommandId: string } };
    const commandId = sent.Command.CommandId;
    const sleep = this.config.sleep ?? ((seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000)));
    for (;;) {
      await sleep(this.config.pollSeconds ?? 3);
      const result = await this.runner.run("aws", [
        "ssm", "get-command-invocation", "--region", region, "--command-id", commandId, "--instance-id", instanceId, "--output", "json",
      ]);
      // Right after send-command the invocation may not exist yet.
      if (result.code !== 0) continue;
      const invocation = JSON.parse(result.stdout) as { Status: string; StandardOutputContent: string; StandardErrorContent: string };
      if (["Pending", "InProgress", "Delayed"].includes(invocation.Status)) continue;
      if (invocation.Status === "Success") return invocation.StandardOutputContent;
      throw new Error(`${node}: ${invocation.Status}: ${invocation.StandardErrorContent.trim().split("\n").slice(-5).join(" | ")}`);
    }
  }

  /** etcdctl on a member node: inside kubeadm's etcd container (stacked) or the release binary (external). */
  private etcdctl(): string {
    return this.config.topology.etcd.topology === "stacked" ? STACKED_ETCDCTL : EXTERNAL_ETCDCTL;
  }

  async etcdMembers(via: string): Promise<EtcdMemberStatus[]> {
    const etcdctl = this.etcdctl();
    const output = await this.remote(via, `${etcdctl} member list; echo ---; ${etcdctl} endpoint health --cluster -w json 2>/dev/null || true`);
    const [list, health] = output.split("\n---\n");
    return parseEtcdStatus(list, (health ?? "").trim());
  }

  async etcdMemberAdd(via: string, name: string, peerUrl: string): Promise<void> {
    await this.remote(via, `${this.etcdctl()} member add ${shq(name)} --learner --peer-urls=${shq(peerUrl)}`);
  }

  async etcdMemberPromote(via: string, id: string): Promise<void> {
    await this.remote(via, `${this.etcdctl()} member promote ${shq(id)}`);
  }

  async etcdMemberRemove(via: string, id: string): Promise<void> {
    await this.remote(via, `${this.etcdctl()} member remove ${shq(id)}`);
  }

  async stopEtcd(node: string): Promise<void> {
    await this.remote(node, "systemctl stop etcd", 120);
  }

  async kubeNodes(via: string): Promise<KubeNodeStatus[]> {
    const columns = 'NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,UNSCHEDULABLE:.spec.unschedulable,VERSION:.status.nodeInfo.kubeletVersion';
    return parseKubeNodes(await this.remote(via, `${KUBECTL} get nodes --no-headers -o ${shq(`custom-columns=${columns}`)}`));
  }

  async drain(via: string, node: string): Promise<void> {
    await this.remote(via, `${KUBECTL} drain ${shq(node)} --ignore-daemonsets --delete-emptydir-data --timeout=900s`);
  }

  async uncordon(via: string, node: string): Promise<void> {
    await this.remote(via, `${KUBECTL} uncordon ${shq(node)}`);
  }

  async deleteNode(via: string, node: string): Promise<void> {
    await this.remote(via, `${KUBECTL} delete node ${shq(node)} --ignore-not-found`);
  }

  async kubeadmReset(node: string): Promise<void> {
    await this.remote(node, "kubeadm reset -f", 600);
  }

  async clusterVersion(via: string): Promise<string> {
    const output = await this.remote(via, `${KUBECTL} -n kube-system get configmap kubeadm-config -o jsonpath='{.data.ClusterConfiguration}' | sed -n 's/^kubernetesVersion: *//p'`);
    return output.trim();
  }

  private packages(version: string, names: string[]): string {
    const minor = version.split(".").slice(0, 2).join(".");
    const repo = `https://pkgs.k8s.io/core:/stable:/v${minor}/deb/`;
    return [
      // pkgs.k8s.io has one repository per minor: point apt at the target's.
      `curl -fsSL ${shq(`${repo}Release.key`)} | gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg`,
      `echo ${shq(`deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] ${repo} /`)} >/etc/apt/sources.list.d/kubernetes.list`,
      `apt-mark unhold ${names.join(" ")} >/dev/null`,
      "apt-get update -q",
      `DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${names.map((name) => shq(`${name}=${version}-*`)).join(" ")}`,
      `apt-mark hold ${names.join(" ")} >/dev/null`,
    ].join(" && ");
  }

  async installKubeadm(node: string, version: string): Promise<void> {
    await this.remote(node, this.packages(version, ["kubeadm"]));
  }

  async kubeadmUpgradeApply(node: string, version: string): Promise<void> {
    await this.remote(node, `kubeadm upgrade plan v${version} && kubeadm upgrade apply v${version} --yes`, 3600);
  }

  async kubeadmUpgradeNode(node: string): Promise<void> {
    await this.remote(node, "kubeadm upgrade node", 3600);
  }

  async installKubelet(node: string, version: string): Promise<void> {
    await this.remote(node, `${this.packages(version, ["kubelet", "kubectl"])} && systemctl daemon-reload && systemctl restart kubelet`);
  }

  private withConfig(clusterConfiguration: string, command: string): string {
    const file = "/run/kubeadm-ha/day2-cluster-configuration.yaml";
    return `install -d -m 0700 /run/kubeadm-ha && echo ${shq(Buffer.from(clusterConfiguration).toString("base64"))} | base64 -d >${file} && ${command.replace(/FILE/g, file)}; status=$?; rm -f ${file}; exit $status`;
  }

  async uploadClusterConfiguration(via: string, clusterConfiguration: string): Promise<void> {
    await this.remote(via, this.withConfig(clusterConfiguration, "kubeadm init phase upload-config kubeadm --config FILE"));
  }

  async regenerateControlPlane(node: string, clusterConfiguration: string): Promise<void> {
    await this.remote(
      node,
      this.withConfig(clusterConfiguration, "kubeadm init phase control-plane controller-manager --config FILE && kubeadm init phase control-plane scheduler --config FILE"),
    );
  }

  async synth(lift?: GuardLift): Promise<void> {
    await mustRun(this.runner, process.execPath, ["-r", "./scripts/register.js", "main.ts"], {
      cwd: this.config.repoRoot,
      env: { CDKTF_OUTDIR: this.config.outdir, ...(lift ? guardLiftEnv(this.stack, lift) : {}) },
    });
    await this.terraform(["init", "-input=false"]);
  }

  /** The Terraform address of the node's instance, from the synthesized JSON. */
  instanceAddress(node: string): string {
    const json = JSON.parse(fs.readFileSync(path.join(this.stackDir, "cdk.tf.json"), "utf8")) as { resource: { aws_instance?: Record<string, { tags: Record<string, string> }> } };
    const entry = Object.entries(json.resource.aws_instance ?? {}).find(([, instance]) => instance.tags.Name === `${this.stack}-${node}`);
    if (!entry) throw new Day2Error(`${node}: no aws_instance for it in ${this.stackDir}/cdk.tf.json`);
    return `aws_instance.${entry[0]}`;
  }

  async replaceInstance(node: string): Promise<void> {
    const instance = this.instanceAddress(node);
    const record = `terraform_data.${nodeConfigResourceName(node)}`;
    await this.terraform(["apply", "-input=false", "-auto-approve", `-replace=${instance}`, `-target=${instance}`, `-target=${record}`], true);
  }

  async applyScale(): Promise<void> {
    await this.terraform(["apply", "-input=false", "-auto-approve"], true);
  }

  async recordDigests(nodes: readonly string[]): Promise<void> {
    const records = nodes.map((node) => `terraform_data.${nodeConfigResourceName(node)}`);
    await this.terraform(["apply", "-input=false", "-auto-approve", ...records.flatMap((record) => [`-replace=${record}`, `-target=${record}`])], true);
  }

  sleep(seconds: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  }
}
