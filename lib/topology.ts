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
  /**
   * true for the launch template of the Auto Scaling group's workers: every instance learns its
   * name, private IP and zone at boot from the instance metadata service (templates/node-identity.sh),
   * so `name` is only the template's, `privateIp` and `availabilityZone` are DYNAMIC, zoneIndex -1.
   * @default false: a static node, with all three planned at synth
   */
  readonly dynamic?: boolean;
}

/** privateIp and availabilityZone of a dynamic node: given to each instance at launch. */
export const DYNAMIC = "dynamic";

/** workers.autoScaling, resolved: the group's bounds, its purchase options and the node template. */
export interface WorkerAutoScaling {
  readonly minSize: number;
  readonly maxSize: number;
  readonly desiredCapacity: number;
  /** The types the group may launch, in order of preference; the first is the launch template's. */
  readonly instanceTypes: readonly string[];
  /** undefined: On-Demand only. */
  readonly spot?: { readonly onDemandBaseCapacity: number; readonly onDemandPercentageAboveBaseCapacity: number };
  /**
   * What every instance boots from (role worker, bootstrap join, dynamic): its user data is the
   * launch template's, and the review bundle shows its files under files/<template.name>/.
   */
  readonly template: ClusterNode;
}

/** The name of the Auto Scaling group's node template: its review folder and its resources' names. */
export const WORKER_GROUP_NAME = "worker-asg";

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
  /** The static workers (workers.count): planned at synth, in `nodes`. */
  readonly workers: readonly ClusterNode[];
  /** workers.autoScaling: its instances come and go, so they are never in `nodes`. */
  readonly workerAutoScaling?: WorkerAutoScaling;
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

  const autoScaling = spec.workers.autoScaling;
  const groupInstanceTypes = autoScaling?.instanceTypes ?? [spec.workers.instanceType];
  const workerAutoScaling: WorkerAutoScaling | undefined = autoScaling && {
    minSize: autoScaling.minSize,
    maxSize: autoScaling.maxSize,
    desiredCapacity: autoScaling.desiredCapacity ?? autoScaling.minSize,
    instanceTypes: groupInstanceTypes,
    spot: autoScaling.spot && {
      onDemandBaseCapacity: autoScaling.spot.onDemandBaseCapacity,
      onDemandPercentageAboveBaseCapacity: autoScaling.spot.onDemandPercentageAboveBaseCapacity,
    },
    template: {
      name: WORKER_GROUP_NAME,
      role: "worker",
      ordinal: 0,
      privateIp: DYNAMIC,
      availabilityZone: DYNAMIC,
      zoneIndex: -1,
      instanceType: groupInstanceTypes[0],
      bootstrap: "join",
      dynamic: true,
    },
  };

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
    workerAutoScaling,
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

/** workers.autoScaling as the review bundle states it (topology.json, ha-report.json). */
export function workerAutoScalingSummary(topology: Topology) {
  const group = topology.workerAutoScaling;
  if (!group) return undefined;
  return {
    name: group.template.name,
    minSize: group.minSize,
    maxSize: group.maxSize,
    desiredCapacity: group.desiredCapacity,
    instanceTypes: [...group.instanceTypes],
    purchase: group.spot ? "spot" : "on-demand",
    ...(group.spot ? { spot: { ...group.spot } } : {}),
    availabilityZones: topology.zones.map((zone) => zone.name),
    /** EC2 assigns each instance its address and zone at launch; its node name is worker-<instance id>. */
    addresses: DYNAMIC,
    nodeNames: `${ROLE_PROFILES.worker.namePrefix}-<instance id>`,
  };
}
