/**
 * spec -> topology: every node with its name, role, zone, private IP and bootstrap, the API
 * endpoint, the etcd membership, and everything else resolved from the spec once (the
 * load-balancer kind's module, the CNI's ports, the leader-election figures). The one input of
 * the renderers and the constructs.
 */
import type { ClusterSpec } from "./spec";
import { mustParseCidr } from "./cidr";
import { placeNode, planZones, ZonePlan } from "./addressing";
import { etcdFaultTolerance, etcdQuorum } from "./quorum";
import { NodeBootstrap, NodeRole, ROLE_PROFILES } from "./roles";
import { API_SERVER_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT } from "./ports";
import { CniPort, cniPorts } from "./cni-ports";
import { LeaderElectionReport, leaderElectionReport } from "./leader-election";
import type { LoadBalancerKindModule } from "./load-balancers/module";
import { loadBalancerKind } from "./load-balancers/registry";

export type { NodeBootstrap, NodeRole } from "./roles";
export { API_SERVER_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT } from "./ports";

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
  /** "init": the node founds its cluster (kubeadm init, or the etcd CA); "join": it enters a running one. */
  readonly bootstrap: NodeBootstrap;
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
  /** The load-balancer node; undefined for a kind AWS runs (loadBalancerKind.runsOnNode false). */
  readonly loadBalancer: ClusterNode | undefined;
  /** The spec's load-balancer kind: its files, boot-script facts, warnings and failure figures. */
  readonly loadBalancerKind: LoadBalancerKindModule;
  /** The control-plane node that runs `kubeadm init` (bootstrap "init"); all others join. */
  readonly initNode: ClusterNode;
  /** "host:port" of the load balancer: kubeadm's controlPlaneEndpoint and every kubeconfig's server. */
  readonly controlPlaneEndpoint: string;
  /** The host part of controlPlaneEndpoint, which the API server certificate must name. */
  readonly controlPlaneEndpointHost: string;
  readonly apiServerBackends: readonly string[];
  readonly etcd: {
    readonly topology: "stacked" | "external";
    readonly members: readonly EtcdMember[];
    /** Client URLs the API servers use (external) or the stacked members' client URLs. */
    readonly endpoints: readonly string[];
    readonly quorum: number;
    readonly failuresTolerated: number;
  };
  /** Ports the pod network needs between all Kubernetes nodes. */
  readonly cniPorts: readonly CniPort[];
  /** The spec's leader-election durations, parsed, with the takeover figures they give. */
  readonly leaderElection: LeaderElectionReport;
  readonly warnings: readonly string[];
}

export function buildTopology(spec: ClusterSpec, warnings: readonly string[] = []): Topology {
  const vpc = mustParseCidr(spec.network.vpcCidr);
  const zones = planZones(vpc, spec.network.availabilityZones);
  const makeNodes = (role: NodeRole, count: number, instanceType: string): ClusterNode[] =>
    Array.from({ length: count }, (_, index) => {
      const { zoneIndex, privateIp } = placeNode(vpc, zones.length, role, index);
      return {
        name: `${ROLE_PROFILES[role].namePrefix}-${index + 1}`,
        role,
        ordinal: index + 1,
        privateIp,
        availabilityZone: zones[zoneIndex].name,
        zoneIndex,
        instanceType,
        bootstrap: index === 0 && ROLE_PROFILES[role].foundsCluster ? "init" : "join",
      };
    });

  const lbKind = loadBalancerKind(spec.loadBalancer.kind);
  const loadBalancers = lbKind.runsOnNode ? makeNodes("load-balancer", 1, spec.loadBalancer.instanceType) : [];
  const controlPlane = makeNodes("control-plane", spec.controlPlane.count, spec.controlPlane.instanceType);
  const etcdNodes = spec.etcd.topology === "external" ? makeNodes("etcd", spec.etcd.members, spec.etcd.instanceType) : [];
  const workers = makeNodes("worker", spec.workers.count, spec.workers.instanceType);

  const endpointHost = lbKind.endpointHost({ stack: spec.name, node: loadBalancers[0] });

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
    loadBalancerKind: lbKind,
    initNode: controlPlane[0],
    controlPlaneEndpoint: `${endpointHost}:${API_SERVER_PORT}`,
    controlPlaneEndpointHost: endpointHost,
    apiServerBackends: controlPlane.map((node) => `${node.privateIp}:${API_SERVER_PORT}`),
    etcd: {
      topology: spec.etcd.topology,
      members,
      endpoints: members.map((member) => member.clientUrl),
      quorum: etcdQuorum(members.length),
      failuresTolerated: etcdFaultTolerance(members.length),
    },
    cniPorts: cniPorts(spec.cni.plugin),
    leaderElection: leaderElectionReport(spec.leaderElection),
    warnings,
  };
}
