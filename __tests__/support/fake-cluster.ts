/**
 * A simulated cluster behind the ClusterOps interface, for the day-2 command tests: instances
 * with recorded digests, Kubernetes nodes, etcd members. It enforces what the real cluster would
 * punish (an instance replaced while its member is still in etcd, a new external member that was
 * never announced, an apply without the guard lifted) and records every operation in order, and
 * the most etcd members down at any moment.
 */
import type { ClusterOps, DeployedNode, EtcdMemberStatus, KubeNodeStatus } from "../../lib/day2/cluster-ops";
import type { GuardLift } from "../../lib/day2/guard-lift";
import type { NodeRole, Topology } from "../../lib/topology";

interface FakeNode {
  role: NodeRole;
  instanceId: string;
  recordedDigest?: string;
  alive: boolean;
  booting: boolean;
  kubeadmVersion: string;
}

interface FakeMember {
  id: string;
  name: string;
  peerUrl: string;
  clientUrl: string;
  started: boolean;
  learner: boolean;
  healthy: boolean;
}

export interface FakeClusterOptions {
  /** The spec the nodes were created from (digests recorded in the state). */
  readonly deployed: Topology;
  readonly deployedDigests: ReadonlyMap<string, string>;
  /** What a synth renders now (with the spec the command reads). */
  readonly desired: Topology;
  readonly desiredDigests: ReadonlyMap<string, string>;
  readonly version?: string;
  /** Throws (as if the command died) right before the n-th operation. */
  readonly interruptBefore?: number;
}

export class Interrupted extends Error {}

export class FakeCluster implements ClusterOps {
  readonly events: string[] = [];
  maxMembersDown = 0;
  clusterVersionValue: string;
  readonly nodes = new Map<string, FakeNode>();
  readonly members: FakeMember[] = [];
  readonly kube = new Map<string, { ready: boolean; unschedulable: boolean; kubeletVersion: string }>();
  /** Failures the test injects: node -> healthy false. */
  private lift: GuardLift | undefined;
  /** Voting members the cluster is meant to have (the deployed count, then each scaling step's). */
  private baseline: number;
  private instanceSerial = 100;
  private memberSerial = 100;
  private calls = 0;
  interruptBefore?: number;

  constructor(private readonly options: FakeClusterOptions) {
    this.clusterVersionValue = options.version ?? options.deployed.spec.kubernetesVersion;
    this.interruptBefore = options.interruptBefore;
    const { deployed } = options;
    this.baseline = deployed.etcd.members.length;
    for (const node of deployed.nodes) {
      this.nodes.set(node.name, {
        role: node.role,
        instanceId: `i-${this.instanceSerial++}`,
        recordedDigest: options.deployedDigests.get(node.name),
        alive: true,
        booting: false,
        kubeadmVersion: this.clusterVersionValue,
      });
      if (node.role === "control-plane" || node.role === "worker") {
        this.kube.set(node.name, { ready: true, unschedulable: false, kubeletVersion: `v${this.clusterVersionValue}` });
      }
    }
    for (const member of deployed.etcd.members) this.addMember(member.name, member.peerUrl, member.clientUrl, true);
  }

  private addMember(name: string, peerUrl: string, clientUrl: string, started: boolean, learner = false): FakeMember {
    const member = { id: (this.memberSerial++).toString(16), name: started ? name : "", peerUrl, clientUrl, started, learner, healthy: started };
    this.members.push(member);
    return member;
  }

  private step(event: string): void {
    this.calls++;
    if (this.interruptBefore !== undefined && this.calls === this.interruptBefore) {
      this.interruptBefore = undefined;
      throw new Interrupted(`interrupted before ${event}`);
    }
    this.events.push(event);
    this.measure();
  }

  /** Voting members not serving, counting removed members against the intended membership. */
  private measure(): void {
    const voting = this.members.filter((member) => !member.learner);
    const down = voting.filter((member) => !member.healthy).length + Math.max(0, this.baseline - voting.length);
    this.maxMembersDown = Math.max(this.maxMembersDown, down);
  }

  private etcdHolders(): string[] {
    const role = this.options.desired.etcd.topology === "stacked" ? "control-plane" : "etcd";
    return [...this.nodes].filter(([, node]) => node.role === role).map(([name]) => name);
  }

  private requireAlive(node: string): FakeNode {
    const found = this.nodes.get(node);
    if (!found) throw new Error(`no instance ${node}`);
    if (!found.alive) throw new Error(`${node} does not answer (SSM: Undeliverable)`);
    return found;
  }

  /** Test hook: the node dies (instance up, services gone). */
  kill(node: string): void {
    const found = this.nodes.get(node)!;
    found.alive = false;
    const status = this.kube.get(node);
    if (status) status.ready = false;
    const member = this.members.find((candidate) => candidate.name === node);
    if (member) member.healthy = false;
  }

  async inventory(): Promise<DeployedNode[]> {
    return [...this.nodes].map(([name, node]) => ({ name, role: node.role, instanceId: node.instanceId, recordedDigest: node.recordedDigest }));
  }

  async etcdMembers(via: string): Promise<EtcdMemberStatus[]> {
    this.requireAlive(via);
    if (!this.etcdHolders().includes(via)) throw new Error(`${via} holds no etcd member`);
    return this.members.map(({ id, name, peerUrl, started, learner, healthy }) => ({ id, name, peerUrl, started, learner, healthy }));
  }

  private quorum(): boolean {
    const voting = this.members.filter((member) => !member.learner);
    return voting.filter((member) => member.healthy).length >= Math.floor(voting.length / 2) + 1;
  }

  async etcdMemberAdd(via: string, name: string, peerUrl: string): Promise<void> {
    this.requireAlive(via);
    this.step(`etcd member add --learner ${name}`);
    if (!this.quorum()) throw new Error("etcdserver: no leader");
    if (this.members.filter((member) => member.learner).length > 0) throw new Error("etcdserver: too many learner members in cluster");
    const member = this.addMember(name, peerUrl, peerUrl.replace(":2380", ":2379"), false, true);
    member.name = "";
  }

  async etcdMemberPromote(via: string, id: string): Promise<void> {
    this.requireAlive(via);
    this.step(`etcd member promote ${this.members.find((m) => m.id === id)?.name}`);
    const member = this.members.find((candidate) => candidate.id === id);
    if (!member?.learner || !member.started) throw new Error("etcdserver: can only promote a learner member which is in sync with leader");
    member.learner = false;
  }

  async etcdMemberRemove(via: string, id: string): Promise<void> {
    this.requireAlive(via);
    const index = this.members.findIndex((candidate) => candidate.id === id);
    this.step(`etcd member remove ${this.members[index]?.name || id}`);
    if (!this.quorum()) throw new Error("etcdserver: no leader");
    this.members.splice(index, 1);
  }

  async stopEtcd(node: string): Promise<void> {
    this.requireAlive(node);
    this.step(`stop etcd on ${node}`);
  }

  async kubeNodes(via: string): Promise<KubeNodeStatus[]> {
    this.requireAlive(via);
    if (this.nodes.get(via)?.role !== "control-plane") throw new Error(`${via} has no admin.conf`);
    return [...this.kube].map(([name, status]) => ({ name, ...status }));
  }

  async drain(via: string, node: string): Promise<void> {
    this.requireAlive(via);
    this.step(`drain ${node}`);
    this.kube.get(node)!.unschedulable = true;
  }

  async uncordon(via: string, node: string): Promise<void> {
    this.requireAlive(via);
    this.step(`uncordon ${node}`);
    this.kube.get(node)!.unschedulable = false;
  }

  async deleteNode(via: string, node: string): Promise<void> {
    this.requireAlive(via);
    this.step(`delete node ${node}`);
    this.kube.delete(node);
  }

  async kubeadmReset(node: string): Promise<void> {
    this.requireAlive(node);
    this.step(`kubeadm reset ${node}`);
    const index = this.members.findIndex((member) => member.name === node);
    if (index >= 0) this.members.splice(index, 1);
  }

  async clusterVersion(via: string): Promise<string> {
    this.requireAlive(via);
    return this.clusterVersionValue;
  }

  async installKubeadm(node: string, version: string): Promise<void> {
    this.requireAlive(node).kubeadmVersion = version;
    this.step(`install kubeadm ${version} on ${node}`);
  }

  async kubeadmUpgradeApply(node: string, version: string): Promise<void> {
    const found = this.requireAlive(node);
    this.step(`kubeadm upgrade apply ${version} on ${node}`);
    if (found.kubeadmVersion !== version) throw new Error(`kubeadm ${found.kubeadmVersion} cannot upgrade to ${version}`);
    this.clusterVersionValue = version;
  }

  async kubeadmUpgradeNode(node: string): Promise<void> {
    const found = this.requireAlive(node);
    this.step(`kubeadm upgrade node on ${node}`);
    if (found.kubeadmVersion !== this.clusterVersionValue) throw new Error(`kubeadm on ${node} is ${found.kubeadmVersion}, the cluster ${this.clusterVersionValue}`);
  }

  async installKubelet(node: string, version: string): Promise<void> {
    this.requireAlive(node);
    this.step(`install kubelet ${version} on ${node}`);
    const status = this.kube.get(node)!;
    if (!status.unschedulable) throw new Error(`${node} was not drained before its kubelet restarted`);
    if (this.nodes.get(node)!.role !== "control-plane" && this.clusterVersionValue !== version) throw new Error("kubelet newer than the API server");
    status.kubeletVersion = `v${version}`;
  }

  async uploadClusterConfiguration(via: string, configuration: string): Promise<void> {
    this.requireAlive(via);
    if (!/kind: ClusterConfiguration/.test(configuration)) throw new Error("not a ClusterConfiguration");
    this.step(`upload ClusterConfiguration`);
  }

  async regenerateControlPlane(node: string): Promise<void> {
    this.requireAlive(node);
    this.step(`regenerate manifests on ${node}`);
  }

  async synth(lift?: GuardLift): Promise<void> {
    this.step(`synth ${lift ? JSON.stringify(lift) : "plain"}`);
    this.lift = lift;
    if (lift?.scale) {
      const { role, count } = lift.scale;
      this.scaleTarget = { role, names: Array.from({ length: count }, (_, index) => `${role}-${index + 1}`) };
    } else {
      this.scaleTarget = undefined;
    }
  }

  private scaleTarget: { role: NodeRole; names: string[] } | undefined;

  private boot(name: string, role: NodeRole): void {
    const topology = this.options.desired;
    const node = topology.nodes.find((candidate) => candidate.name === name)!;
    this.nodes.set(name, {
      role,
      instanceId: `i-${this.instanceSerial++}`,
      recordedDigest: this.options.desiredDigests.get(name),
      alive: true,
      booting: true,
      kubeadmVersion: this.clusterVersionValue,
    });
    const external = topology.etcd.topology === "external";
    if (role === "etcd") {
      const announced = this.members.find((member) => member.peerUrl === `https://${node.privateIp}:2380`);
      if (!announced) throw new Error(`${name} started etcd as a new cluster: it was never announced with member add`);
    }
    if (role === "control-plane" && !external) {
      if (this.members.some((member) => member.name === name)) throw new Error(`${name} joined while its old member was still in etcd`);
    }
  }

  /** Boots finish on the next poll. */
  private finishBoots(): void {
    for (const [name, node] of this.nodes) {
      if (!node.booting) continue;
      node.booting = false;
      const topology = this.options.desired;
      const spec = topology.nodes.find((candidate) => candidate.name === name)!;
      if (node.role === "etcd") {
        const member = this.members.find((candidate) => candidate.peerUrl === `https://${spec.privateIp}:2380`)!;
        Object.assign(member, { started: true, healthy: true, name });
      }
      if (node.role === "control-plane" && topology.etcd.topology === "stacked") {
        this.addMember(name, `https://${spec.privateIp}:2380`, `https://${spec.privateIp}:2379`, true);
      }
      if (node.role !== "etcd" && node.role !== "load-balancer") {
        this.kube.set(name, { ready: true, unschedulable: false, kubeletVersion: `v${this.options.desired.spec.kubernetesVersion}` });
      }
    }
    this.measure();
  }

  async replaceInstance(node: string): Promise<void> {
    this.step(`terraform apply -replace ${node}`);
    if (this.lift?.replaceNode !== node) throw new Error(`prevent_destroy: ${node}'s guard is not lifted`);
    const old = this.nodes.get(node)!;
    if (old.role === "etcd" && this.members.some((member) => member.name === node)) throw new Error(`${node} replaced while still an etcd member`);
    if (this.kube.has(node)) throw new Error(`${node} replaced while still registered in Kubernetes`);
    this.nodes.delete(node);
    this.boot(node, old.role);
  }

  async applyScale(): Promise<void> {
    const target = this.scaleTarget;
    this.step(`terraform apply (scale ${target?.role} to ${target?.names.length})`);
    if (!target) throw new Error("membership guard not lifted: terraform_data.membership_* has prevent_destroy");
    const have = [...this.nodes].filter(([, node]) => node.role === target.role).map(([name]) => name);
    for (const name of have.filter((candidate) => !target.names.includes(candidate))) {
      if (this.members.some((member) => member.name === name)) throw new Error(`${name} destroyed while still an etcd member`);
      if (this.kube.has(name)) throw new Error(`${name} destroyed while still registered in Kubernetes`);
      this.nodes.delete(name);
    }
    for (const name of target.names.filter((candidate) => !have.includes(candidate))) this.boot(name, target.role);
    const holdsEtcd = target.role === (this.options.desired.etcd.topology === "stacked" ? "control-plane" : "etcd");
    if (holdsEtcd) this.baseline = target.names.length;
  }

  async recordDigests(nodes: readonly string[]): Promise<void> {
    this.step(`record digests ${nodes.join(",")}`);
    for (const node of nodes) this.nodes.get(node)!.recordedDigest = this.options.desiredDigests.get(node);
  }

  async sleep(): Promise<void> {
    this.finishBoots();
  }
}
