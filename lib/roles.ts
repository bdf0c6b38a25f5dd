/**
 * Node roles, one profile each, in a table the compiler checks: a new role is one entry here plus
 * its files and environment in lib/render/node-files.ts, never a hunt for role lists elsewhere.
 * Pure data: the topology, the renderers and the constructs all read it.
 */
import type { Topology } from "./topology";

export type NodeRole = "control-plane" | "worker" | "etcd" | "load-balancer";

/**
 * How a node enters its cluster: "init" founds it (the first control-plane node runs `kubeadm
 * init`; the first external etcd member issues the etcd CA), "join" enters a running one.
 */
export type NodeBootstrap = "init" | "join";

export interface RoleResources {
  readonly securityGroup: boolean;
  readonly instanceProfile: boolean;
}

export interface RoleProfile {
  /** Node names are `<namePrefix>-<ordinal>`: hostnames and Kubernetes node names. */
  readonly namePrefix: string;
  /** First host number of the role in each zone's private subnet (AWS reserves hosts 0-3 and the last). */
  readonly hostBlock: number;
  /** Runs the kubelet and the pod network (kubeadm config, CNI and kubelet ports). */
  readonly kubernetes: boolean;
  /** The role's first node founds a cluster (bootstrap "init"); every other node joins. */
  readonly foundsCluster: boolean;
  /** The scripts boot.sh runs, in order, by bootstrap. */
  readonly bootScripts: Readonly<Record<NodeBootstrap, readonly string[]>>;
  /**
   * A changed user-data replaces the instance on apply. Only for stateless roles: cloud-init runs
   * user-data once, so stateful nodes are rolled deliberately, one at a time (lib/constructs/cluster-nodes.ts).
   */
  readonly replaceOnUserDataChange: boolean;
  /** What the role's nodes are, for security group, IAM and review descriptions. */
  readonly description: string;
  /**
   * What the stack declares for the role, even with zero nodes of it: its security group and its
   * IAM role with instance profile.
   */
  provisions(topology: Topology): RoleResources;
}

const KUBERNETES_JOIN = ["install-kubernetes.sh", "join-node.sh"] as const;

export const ROLE_PROFILES: Readonly<Record<NodeRole, RoleProfile>> = {
  "load-balancer": {
    namePrefix: "lb",
    hostBlock: 10,
    kubernetes: false,
    foundsCluster: false,
    bootScripts: { init: ["load-balancer.sh"], join: ["load-balancer.sh"] },
    // It holds no state, and its config lists the control-plane nodes: a new API server must reach it.
    replaceOnUserDataChange: true,
    description: "Kubernetes API load balancer",
    // A managed load balancer (an NLB) still uses the group; only a node needs the IAM role.
    provisions: (topology) => ({ securityGroup: true, instanceProfile: topology.loadBalancerKind.runsOnNode }),
  },
  "control-plane": {
    namePrefix: "control-plane",
    hostBlock: 20,
    kubernetes: true,
    foundsCluster: true,
    bootScripts: { init: ["install-kubernetes.sh", "init-control-plane.sh"], join: KUBERNETES_JOIN },
    replaceOnUserDataChange: false,
    description: "Kubernetes control-plane nodes",
    provisions: () => ({ securityGroup: true, instanceProfile: true }),
  },
  etcd: {
    namePrefix: "etcd",
    hostBlock: 30,
    kubernetes: false,
    foundsCluster: true,
    bootScripts: { init: ["etcd-node.sh"], join: ["etcd-node.sh"] },
    replaceOnUserDataChange: false,
    description: "external etcd members",
    provisions: (topology) => {
      const external = topology.etcd.topology === "external";
      return { securityGroup: external, instanceProfile: external };
    },
  },
  worker: {
    namePrefix: "worker",
    hostBlock: 40,
    kubernetes: true,
    foundsCluster: false,
    bootScripts: { init: KUBERNETES_JOIN, join: KUBERNETES_JOIN },
    replaceOnUserDataChange: false,
    // Workers get their security group and IAM role even with workers.count 0, so adding workers
    // later changes no IAM, KMS or security group.
    description: "Kubernetes worker nodes",
    provisions: () => ({ securityGroup: true, instanceProfile: true }),
  },
};

/** The order security groups and IAM roles are declared in (their Terraform JSON order). */
export const PROVISIONING_ORDER: readonly NodeRole[] = ["load-balancer", "control-plane", "worker", "etcd"];

/** The roles whose security group (or IAM role and instance profile) this stack has. */
export function provisionedRoles(topology: Topology, resource: keyof RoleResources): NodeRole[] {
  return PROVISIONING_ORDER.filter((role) => ROLE_PROFILES[role].provisions(topology)[resource]);
}

/** The roles that run the kubelet and the pod network. */
export function kubernetesRoles(): NodeRole[] {
  return PROVISIONING_ORDER.filter((role) => ROLE_PROFILES[role].kubernetes);
}
