/**
 * spec -> topology: every node with its name, role, zone and private IP, the API endpoint and the
 * etcd membership. Pure data; renderers and constructs read only this.
 */
import type { ClusterSpec } from "./spec";
import { mustParseCidr } from "./cidr";
import { placeNode, planZones, ZonePlan } from "./addressing";
import { etcdFaultTolerance, etcdQuorum } from "./quorum";

export type NodeRole = "control-plane" | "worker" | "etcd" | "load-balancer";

export const API_SERVER_PORT = 6443;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

export interface ClusterNode {
  /** Unique in the cluster; also the hostname and the Kubernetes node name. */
  readonly name: string;
  readonly role: NodeRole;
  /** 1-based position within its role. */
  readonly ordinal: number;
  readonly privateIp: string;
  readonly availabilityZone: string;
  readonly zoneIndex: number;
  readonly instanceType: string;
}

export interface EtcdMember {
  readonly name: string;
  readonly ip: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
}

export interface Topology {
  readonly stack: string;
  readonly spec: ClusterSpec;
  readonly zones: readonly ZonePlan[];
  readonly nodes: readonly ClusterNode[];
  readonly controlPlane: readonly ClusterNode[];
  readonly workers: readonly ClusterNode[];
  readonly etcdNodes: readonly ClusterNode[];
  readonly loadBalancer: ClusterNode;
  /** The control-plane node that runs `kubeadm init`; all others join. */
  readonly initNode: ClusterNode;
  /** "host:port" of the load balancer: kubeadm's controlPlaneEndpoint and every kubeconfig's server. */
  readonly controlPlaneEndpoint: string;
  readonly apiServerBackends: readonly string[];
  readonly etcd: {
    readonly topology: "stacked" | "external";
    readonly members: readonly EtcdMember[];
    /** Client URLs the API servers use (external) or the stacked members' client URLs. */
    readonly endpoints: readonly string[];
    readonly quorum: number;
    readonly failuresTolerated: number;
  };
  readonly warnings: readonly string[];
}

const NAME_PREFIX: Record<NodeRole, string> = {
  "control-plane": "control-plane",
  worker: "worker",
  etcd: "etcd",
  "load-balancer": "lb",
};

export function buildTopology(spec: ClusterSpec, warnings: readonly string[] = []): Topology {
  const vpc = mustParseCidr(spec.network.vpcCidr);
  const zones = planZones(vpc, spec.network.availabilityZones);
  const makeNodes = (role: NodeRole, count: number, instanceType: string): ClusterNode[] =>
    Array.from({ length: count }, (_, index) => {
      const { zoneIndex, privateIp } = placeNode(vpc, zones.length, role, index);
      return {
        name: `${NAME_PREFIX[role]}-${index + 1}`,
        role,
        ordinal: index + 1,
        privateIp,
        availabilityZone: zones[zoneIndex].name,
        zoneIndex,
        instanceType,
      };
    });

  const loadBalancers = makeNodes("load-balancer", 1, spec.loadBalancer.instanceType);
  const controlPlane = makeNodes("control-plane", spec.controlPlane.count, spec.controlPlane.instanceType);
  const etcdNodes = spec.etcd.topology === "external" ? makeNodes("etcd", spec.etcd.members, spec.etcd.instanceType) : [];
  const workers = makeNodes("worker", spec.workers.count, spec.workers.instanceType);

  const memberNodes = spec.etcd.topology === "external" ? etcdNodes : controlPlane;
  const members = memberNodes.map((node) => ({
    name: node.name,
    ip: node.privateIp,
    peerUrl: `https://${node.privateIp}:${ETCD_PEER_PORT}`,
    clientUrl: `https://${node.privateIp}:${ETCD_CLIENT_PORT}`,
  }));

  return {
    stack: spec.name,
    spec,
    zones,
    nodes: [...loadBalancers, ...controlPlane, ...etcdNodes, ...workers],
    controlPlane,
    workers,
    etcdNodes,
    loadBalancer: loadBalancers[0],
    initNode: controlPlane[0],
    controlPlaneEndpoint: `${loadBalancers[0].privateIp}:${API_SERVER_PORT}`,
    apiServerBackends: controlPlane.map((node) => `${node.privateIp}:${API_SERVER_PORT}`),
    etcd: {
      topology: spec.etcd.topology,
      members,
      endpoints: members.map((member) => member.clientUrl),
      quorum: etcdQuorum(members.length),
      failuresTolerated: etcdFaultTolerance(members.length),
    },
    warnings,
  };
}
