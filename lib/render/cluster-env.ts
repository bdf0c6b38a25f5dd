/**
 * /etc/kubeadm-ha/cluster.env: the non-secret facts a node's boot scripts read, as shell-sourceable
 * KEY='value' lines, by role.
 */
import type { ClusterNode, NodeRole, Topology } from "../topology";
import { ROLE_PROFILES } from "../roles";
import { CONTROL_PLANE_JOIN_LEASE_SUBPATH, CONTROL_PLANE_PKI_SUBPATH, kmsAlias, parameterPrefix } from "../secret-store";
import { nodeLoadBalancerKind } from "../load-balancers/registry";
import { DISCOVERY_KUBECONFIG_PATH, KUBEADM_CONFIG_PATH, KUBEADM_CONFIG_TEMPLATE_PATH, KUBEADM_JOIN_CONFIG_PATH, pkiFilesFromEtcd, pkiFilesFromInitNode } from "./kubeadm";
import { COREDNS_PDB_PATH, COREDNS_SPREAD_PATCH_PATH, corednsSpreadNodes } from "./coredns";
import { CniPlugin, cniDaemonSetToRestart, cniManifestUrls, cniResourceCrd, CNI_RESOURCE_PATH } from "./cni";
import { JOIN_TOKEN_REFRESH_AFTER_SECONDS, JOIN_TOKEN_TTL, JOIN_TOKEN_UNIT } from "./join-token-timer";
import { day2Env } from "./day2";

export const CLUSTER_ENV_PATH = "/etc/kubeadm-ha/cluster.env";
/** A dynamic node's NODE_NAME, NODE_IP and NODE_ZONE, written at first boot by templates/node-identity.sh. */
export const NODE_IDENTITY_ENV_PATH = "/etc/kubeadm-ha/node-identity.env";
/** Sourced at the end of a dynamic node's cluster.env (node-files.ts installs it). */
export const NODE_IDENTITY_SCRIPT_PATH = "/usr/local/lib/kubeadm-ha/node-identity.sh";

/**
 * Shell-sourceable KEY='value' pairs: all the scripts know about the cluster. Each role gets only
 * the facts its scripts use, so a worker does not even learn where control-plane material lives.
 */
export function clusterEnv(topology: Topology, node: ClusterNode): [string, string][] {
  return ROLE_ENV[node.role](topology, node);
}

type EnvPairs = [string, string][];

/** The environment of each role's nodes; a new role adds its entry here. */
const ROLE_ENV: Readonly<Record<NodeRole, (topology: Topology, node: ClusterNode) => EnvPairs>> = {
  "load-balancer": (topology, node) => {
    const lb = nodeLoadBalancerKind(topology);
    return [
      ...commonEnv(topology, node),
      ["LB_KIND", lb.kind],
      ["LB_CONFIG", lb.configPath],
      // What templates/load-balancer.sh installs, runs to validate LB_CONFIG, and starts.
      ["LB_PACKAGES", lb.packages.join(" ")],
      ["LB_CONFIG_CHECK", lb.configCheck.join(" ")],
      ["LB_SERVICE", lb.service],
    ];
  },
  etcd: (topology, node) => [
    ...commonEnv(topology, node),
    ["ETCD_VERSION", topology.spec.etcd.version],
    ["ETCD_FIRST_MEMBER", topology.etcd.members[0].name],
    ["ETCD_PARAMETER_PREFIX", parameterPrefix(topology.stack, "etcd")],
    ["ETCD_KMS_KEY", kmsAlias(topology.stack, "etcd")],
    ...controlPlanePkiEnv(topology),
  ],
  worker: (topology, node) => [
    ...commonEnv(topology, node),
    ...kubernetesEnv(topology),
    // node-identity.sh writes KUBEADM_CONFIG from this template with the instance's name, IP and zone.
    ...(node.dynamic ? ([["KUBEADM_CONFIG_TEMPLATE", KUBEADM_CONFIG_TEMPLATE_PATH]] as EnvPairs) : []),
  ],
  "control-plane": (topology, node) => {
    const env: EnvPairs = [
      ...commonEnv(topology, node),
      ...kubernetesEnv(topology),
      ...controlPlanePkiEnv(topology),
      ...joinTokenPublisherEnv(topology),
      // Control-plane joins take turns (join-node.sh): etcd admits one learner member at a time.
      ["CONTROL_PLANE_JOIN_LEASE_PARAMETER", `${parameterPrefix(topology.stack, "control-plane")}/${CONTROL_PLANE_JOIN_LEASE_SUBPATH}`],
    ];
    if (node.bootstrap !== "init") return env;
    return [
      ...env,
      ["ADMIN_KUBECONFIG_PARAMETER", `${parameterPrefix(topology.stack, "control-plane")}/admin.conf`],
      ["KUBEADM_JOIN_CONFIG", KUBEADM_JOIN_CONFIG_PATH],
      // External etcd: the members kubeadm init's preflight asks for /version (init-control-plane.sh).
      ["ETCD_ENDPOINTS", topology.etcd.topology === "external" ? topology.etcd.endpoints.join(" ") : ""],
      // Whether the init node waits for the endpoint to accept connections before kubeadm init: a
      // proxy on a node (HAProxy, NGINX) accepts before any backend is up; a pass-through balancer
      // (the NLB) hands connections to the targets, which refuse until kube-apiserver runs.
      ["WAIT_FOR_LOAD_BALANCER", String(topology.loadBalancerKind.runsOnNode)],
      ...cniEnv(topology.spec.cni.plugin),
      ["COREDNS_SPREAD_NODES", corednsSpreadNodes(topology).join(" ")],
      ["COREDNS_SPREAD_PATCH", COREDNS_SPREAD_PATCH_PATH],
      ["COREDNS_PDB", COREDNS_PDB_PATH],
    ];
  },
};

function commonEnv(topology: Topology, node: ClusterNode): EnvPairs {
  // A dynamic node (an Auto Scaling group's instance) has no name or address at synth: its
  // cluster.env ends by sourcing node-identity.sh, which sets NODE_NAME, NODE_IP and NODE_ZONE from
  // the instance metadata service (and keeps them in NODE_IDENTITY_ENV).
  const identity: EnvPairs = node.dynamic
    ? [
        ["NODE_IDENTITY", "imds"],
        ["NODE_NAME_PREFIX", ROLE_PROFILES[node.role].namePrefix],
        ["NODE_IDENTITY_ENV", NODE_IDENTITY_ENV_PATH],
        ["CLUSTER_ZONES", topology.zones.map((zone) => zone.name).join(" ")],
      ]
    : [["NODE_NAME", node.name]];
  return [
    ["STACK", topology.stack],
    ["AWS_REGION", topology.spec.region],
    ...identity,
    ["NODE_ROLE", node.role],
    ...(node.dynamic ? [] : ([["NODE_IP", node.privateIp]] as EnvPairs)),
    ["BOOT_SCRIPTS", ROLE_PROFILES[node.role].bootScripts[node.bootstrap].join(" ")],
    ["CONTROL_PLANE_ENDPOINT", topology.controlPlaneEndpoint],
  ];
}

function controlPlanePkiEnv(topology: Topology): EnvPairs {
  return [
    ["CONTROL_PLANE_PKI_PARAMETER_PREFIX", `${parameterPrefix(topology.stack, "control-plane")}/${CONTROL_PLANE_PKI_SUBPATH}`],
    ["CONTROL_PLANE_KMS_KEY", kmsAlias(topology.stack, "control-plane")],
    // What the init node publishes, and (with external etcd) what the etcd nodes publish; a
    // joining control-plane node fetches both.
    ["PKI_FROM_INIT_NODE", pkiFilesFromInitNode(topology).join(" ")],
    ["PKI_FROM_ETCD", pkiFilesFromEtcd(topology).join(" ")],
  ];
}

function kubernetesEnv(topology: Topology): EnvPairs {
  const version = topology.spec.kubernetesVersion;
  return [
    ["KUBERNETES_VERSION", version],
    ["KUBERNETES_MINOR", version.split(".").slice(0, 2).join(".")],
    ["KUBEADM_CONFIG", KUBEADM_CONFIG_PATH],
    ["DISCOVERY_KUBECONFIG", DISCOVERY_KUBECONFIG_PATH],
    ["JOIN_KUBECONFIG_PARAMETER", `${parameterPrefix(topology.stack, "join")}/discovery-kubeconfig`],
  ];
}

function joinTokenPublisherEnv(topology: Topology): EnvPairs {
  return [
    ["JOIN_KMS_KEY", kmsAlias(topology.stack, "join")],
    ["JOIN_TOKEN_TTL", JOIN_TOKEN_TTL],
    ["JOIN_TOKEN_REFRESH_AFTER_SECONDS", String(JOIN_TOKEN_REFRESH_AFTER_SECONDS)],
    ["JOIN_TOKEN_UNIT", JOIN_TOKEN_UNIT],
  ];
}

function cniEnv(plugin: CniPlugin): [string, string][] {
  const restart = cniDaemonSetToRestart(plugin);
  return [
    ["CNI_PLUGIN", plugin],
    ["CNI_MANIFEST_URLS", cniManifestUrls(plugin).join(" ")],
    ["CNI_RESOURCE", CNI_RESOURCE_PATH],
    ["CNI_RESOURCE_CRD", cniResourceCrd(plugin) ?? ""],
    ["CNI_RESTART_DAEMONSET", restart ? `${restart.namespace}/${restart.name}` : ""],
  ];
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function renderClusterEnv(topology: Topology, node: ClusterNode): string {
  const who = node.dynamic ? `every instance of the ${node.name} Auto Scaling group` : node.name;
  const header = `# kubeadm-ha facts for ${who}'s boot scripts (templates/*.sh minus comments); no secrets.\n`;
  const base = clusterEnv(topology, node);
  const entries = [...base, ...day2Env(topology, node).filter(([key]) => !base.some(([known]) => known === key))];
  // A dynamic node's name, IP and zone, from the instance metadata service on its first boot.
  const identity = node.dynamic ? `. "\${KUBEADM_HA_ROOT:-}${NODE_IDENTITY_SCRIPT_PATH}"\n` : "";
  return header + entries.map(([key, value]) => `${key}=${shellQuote(value)}\n`).join("") + identity;
}
