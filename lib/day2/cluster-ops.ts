/**
 * What the day-2 commands need from the world, as one interface: Terraform (state, targeted
 * applies), and commands on the nodes over SSM Run Command (kubectl, etcdctl, kubeadm, apt).
 * scripts/day2/aws-ops.ts implements it with the real tools behind an injectable runner; the
 * simulation tests implement it with a simulated cluster.
 */
import type { NodeRole } from "../topology";
import type { GuardLift } from "./guard-lift";

/** A node as the Terraform state knows it. */
export interface DeployedNode {
  readonly name: string;
  readonly role: NodeRole;
  readonly instanceId: string;
  /** The digest terraform_data.node_config_<name> recorded when the instance was created. */
  readonly recordedDigest?: string;
}

export interface EtcdMemberStatus {
  readonly id: string;
  /** Empty while an added member has not started. */
  readonly name: string;
  readonly peerUrl: string;
  readonly started: boolean;
  readonly learner: boolean;
  /** endpoint health answered OK (false when not started). */
  readonly healthy: boolean;
}

export interface KubeNodeStatus {
  readonly name: string;
  readonly ready: boolean;
  readonly unschedulable: boolean;
  /** e.g. "v1.35.0" */
  readonly kubeletVersion: string;
}

export interface ClusterOps {
  /** Every instance of the stack in the Terraform state. */
  inventory(): Promise<DeployedNode[]>;
  /** Runs where `via` can reach etcd (a control-plane node when stacked, an etcd node when external). */
  etcdMembers(via: string): Promise<EtcdMemberStatus[]>;
  etcdMemberAdd(via: string, name: string, peerUrl: string): Promise<void>;
  etcdMemberPromote(via: string, id: string): Promise<void>;
  etcdMemberRemove(via: string, id: string): Promise<void>;
  /** Stops etcd on an external member (best effort: the node may be dead). */
  stopEtcd(node: string): Promise<void>;
  /** kubectl on control-plane node `via` with its admin.conf. */
  kubeNodes(via: string): Promise<KubeNodeStatus[]>;
  drain(via: string, node: string): Promise<void>;
  uncordon(via: string, node: string): Promise<void>;
  deleteNode(via: string, node: string): Promise<void>;
  /** `kubeadm reset -f` on the node: a stacked member removes itself from etcd. */
  kubeadmReset(node: string): Promise<void>;
  /** The kubernetesVersion of the kubeadm-config ConfigMap, e.g. "1.34.2". */
  clusterVersion(via: string): Promise<string>;
  /** Points the node's package source at the version's minor and installs kubeadm at the version. */
  installKubeadm(node: string, version: string): Promise<void>;
  kubeadmUpgradeApply(node: string, version: string): Promise<void>;
  kubeadmUpgradeNode(node: string): Promise<void>;
  /** kubelet and kubectl at the version, then a kubelet restart. */
  installKubelet(node: string, version: string): Promise<void>;
  /** Writes the ClusterConfiguration into the kubeadm-config ConfigMap. */
  uploadClusterConfiguration(via: string, clusterConfiguration: string): Promise<void>;
  /** Regenerates the node's controller-manager and scheduler static pod manifests from it. */
  regenerateControlPlane(node: string, clusterConfiguration: string): Promise<void>;
  /** Synthesizes the stacks, with a guard lifted for the stack, or with every guard in place. */
  synth(lift?: GuardLift): Promise<void>;
  /** terraform apply -replace of the node's instance, targeted to it and its configuration record. */
  replaceInstance(node: string): Promise<void>;
  /** terraform apply of a scaling step's synth (membership guard lifted). */
  applyScale(): Promise<void>;
  /** Records the nodes' current digests (terraform apply -replace of their configuration records). */
  recordDigests(nodes: readonly string[]): Promise<void>;
  sleep(seconds: number): Promise<void>;
}

/** A problem with the arguments or the cluster's state: printed as is, exit code 1. */
export class Day2Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Day2Error";
  }
}
