/**
 * kubeadm configuration (kubeadm.k8s.io/v1beta4) for every Kubernetes node: InitConfiguration +
 * ClusterConfiguration + KubeletConfiguration on the init node, JoinConfiguration everywhere else.
 *
 * Checked against the v1beta4 API reference and kubeadm's source (types.go, validation.go,
 * discovery/file):
 * - extraArgs and kubeletExtraArgs are lists of {name, value}: v1beta3's string maps are rejected.
 * - Joins use file discovery with a kubeconfig the boot script writes at boot. That kubeconfig
 *   embeds the cluster CA (so the API server's identity is verified, no unsafeSkipCAVerification)
 *   and a bootstrap-token user; kubeadm then uses those embedded credentials for the TLS bootstrap,
 *   so discovery.tlsBootstrapToken is omitted and no secret is ever rendered. kubeadm stats the file
 *   while loading this config, so it must exist before `kubeadm join` runs.
 * - Control-plane joins carry no certificateKey: the boot script places the shared certificates
 *   under /etc/kubernetes/pki first, which kubeadm accepts (it checks them with
 *   SharedCertificateExists when no certificate key is given), so the 2-hour expiry of
 *   `upload-certs` never applies to a node that boots late.
 * - No bootstrapTokens: kubeadm init then makes its default token, which the boot script never
 *   prints (--skip-token-print) and never publishes; joins use the tokens the boot script creates.
 */
import { Document, isMap, isScalar, isSeq, visit } from "yaml";
import type { NodeFile } from "../node-file";
import { API_SERVER_PORT, ClusterNode, Topology } from "../topology";
import { ETCD_CLIENT_PKI_FILES } from "../secret-store";

export const KUBEADM_CONFIG_PATH = "/etc/kubeadm-ha/kubeadm.yaml";
/**
 * The init node's second configuration: a control-plane JoinConfiguration, used instead of
 * KUBEADM_CONFIG_PATH when a replacement of the init node finds the deployment's cluster running.
 */
export const KUBEADM_JOIN_CONFIG_PATH = "/etc/kubeadm-ha/kubeadm-join.yaml";
/**
 * A dynamic node's kubeadm configuration, with IDENTITY_PLACEHOLDERS where its name, IP and zone
 * go: templates/node-identity.sh writes KUBEADM_CONFIG_PATH from it at first boot.
 */
export const KUBEADM_CONFIG_TEMPLATE_PATH = "/etc/kubeadm-ha/kubeadm.yaml.in";
export const IDENTITY_PLACEHOLDERS = { name: "@NODE_NAME@", ip: "@NODE_IP@", zone: "@NODE_ZONE@" } as const;
/** Written at boot from the join parameters (CA data + bootstrap token), deleted after the join. */
export const DISCOVERY_KUBECONFIG_PATH = "/run/kubeadm-ha/discovery.kubeconfig";
export const CRI_SOCKET = "unix:///var/run/containerd/containerd.sock";
export const CERTIFICATES_DIR = "/etc/kubernetes/pki";
/** The spec has no field for it; kubeadm's own default, written out so reviewers see it. */
export const DNS_DOMAIN = "cluster.local";
export const STACKED_ETCD_DATA_DIR = "/var/lib/etcd";

/** Where kube-apiserver finds the external etcd cluster's CA and its client certificate. */
export const EXTERNAL_ETCD_CLIENT_FILES = {
  caFile: `${CERTIFICATES_DIR}/etcd/ca.crt`,
  certFile: `${CERTIFICATES_DIR}/apiserver-etcd-client.crt`,
  keyFile: `${CERTIFICATES_DIR}/apiserver-etcd-client.key`,
} as const;

const KUBEADM_API_VERSION = "kubeadm.k8s.io/v1beta4";
const KUBELET_API_VERSION = "kubelet.config.k8s.io/v1beta1";

/** v1beta4's structured argument: duplicates are allowed, order is kept. */
export interface KubeadmArg {
  readonly name: string;
  readonly value: string;
}

export type KubeadmDocument = Record<string, unknown> & { readonly apiVersion: string; readonly kind: string };

/**
 * Files under /etc/kubernetes/pki that must be identical on every control-plane node, relative to
 * that folder, that the init node creates and publishes. kubeadm generates every other
 * certificate locally from them.
 */
export function pkiFilesFromInitNode(topology: Topology): string[] {
  const common = ["ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key"];
  return topology.etcd.topology === "stacked" ? [...common, "etcd/ca.crt", "etcd/ca.key"] : common;
}

/**
 * With external etcd, the API servers' view of etcd: the etcd CA certificate and the client pair
 * the etcd nodes issue and publish. The etcd CA key never reaches a control-plane node.
 */
export function pkiFilesFromEtcd(topology: Topology): string[] {
  return topology.etcd.topology === "external" ? [...ETCD_CLIENT_PKI_FILES] : [];
}

/** Everything a joining control-plane node places under /etc/kubernetes/pki before `kubeadm join`. */
export function sharedPkiFiles(topology: Topology): string[] {
  return [...pkiFilesFromInitNode(topology), ...pkiFilesFromEtcd(topology)];
}

/** The kubeadm documents for a control-plane or worker node, in file order. */
export function kubeadmDocuments(topology: Topology, node: ClusterNode): KubeadmDocument[] {
  if (node.role !== "control-plane" && node.role !== "worker") {
    throw new Error(`kubeadm: ${node.name} is a ${node.role} node; only control-plane and worker nodes run kubeadm`);
  }
  if (node.bootstrap === "init") {
    return [initConfiguration(node, topology.spec.region), clusterConfiguration(topology), kubeletConfiguration()];
  }
  return [joinConfiguration(node, topology.spec.region)];
}

/** The multi-document YAML the node reads from KUBEADM_CONFIG_PATH. */
export function renderKubeadmConfig(topology: Topology, node: ClusterNode): string {
  const header = node.dynamic
    ? `# kubeadm config of every ${node.name} instance, rendered by kubeadm-ha; node-identity.sh fills in the @...@ values at boot; no secret.\n`
    : `# kubeadm config of ${node.name}, rendered by kubeadm-ha; no secret.\n`;
  return header + renderDocuments(kubeadmDocuments(topology, node));
}

/**
 * YAML documents, compact where it stays readable, which keeps the init node's user-data under
 * EC2's 16 KB limit: each {name, value} argument on one line (`- {name: x, value: y}`), lists of
 * plain values on one line (`certSANs: [a, b]`). Plain YAML otherwise: no anchors or aliases, so
 * a reviewer reads every component's arguments where they apply (the leader-election list appears
 * under both controllerManager and scheduler).
 */
function renderDocuments(documents: KubeadmDocument[]): string {
  return documents.map(renderDocument).join("---\n");
}

// Most documents (ClusterConfiguration, KubeletConfiguration, ...) are the same on every node of a
// cluster: each distinct one is turned into YAML once, keyed by its JSON (the same keys in the
// same order). Bounded: a long test run renders many clusters.
const documentTexts = new Map<string, string>();

function renderDocument(value: KubeadmDocument): string {
  const key = JSON.stringify(value);
  let text = documentTexts.get(key);
  if (text === undefined) {
    const document = new Document(value, { aliasDuplicateObjects: false });
    visit(document, {
      Map(_, map) {
        const keys = map.items.map((pair) => (isScalar(pair.key) ? pair.key.value : undefined));
        if (isMap(map) && keys.length === 2 && keys[0] === "name" && keys[1] === "value") map.flow = true;
      },
      Seq(_, seq) {
        if (isSeq(seq) && seq.items.every((item) => isScalar(item))) seq.flow = true;
      },
    });
    text = document.toString({ lineWidth: 0, flowCollectionPadding: false });
    if (documentTexts.size >= 1024) documentTexts.clear();
    documentTexts.set(key, text);
  }
  return text;
}

export function renderKubeadmConfigFile(topology: Topology, node: ClusterNode): NodeFile {
  return { path: node.dynamic ? KUBEADM_CONFIG_TEMPLATE_PATH : KUBEADM_CONFIG_PATH, content: renderKubeadmConfig(topology, node), permissions: "0600" };
}

/**
 * The init node's control-plane JoinConfiguration: what any other control-plane node gets, with
 * this node's name and address. Used only when the init node is replaced while the cluster runs.
 */
export function initNodeJoinDocuments(topology: Topology, node: ClusterNode): KubeadmDocument[] {
  if (node.bootstrap !== "init" || node.role !== "control-plane") throw new Error(`kubeadm: ${node.name} is not the init node`);
  return [joinConfiguration(node, topology.spec.region)];
}

export function renderInitNodeJoinConfigFile(topology: Topology, node: ClusterNode): NodeFile {
  const content = renderDocuments(initNodeJoinDocuments(topology, node));
  return { path: KUBEADM_JOIN_CONFIG_PATH, content, permissions: "0600" };
}

function nodeRegistration(node: ClusterNode, region: string) {
  // A dynamic node learns its identity at boot: placeholders that node-identity.sh replaces.
  const { name, ip, zone } = node.dynamic ? IDENTITY_PLACEHOLDERS : { name: node.name, ip: node.privateIp, zone: node.availabilityZone };
  return {
    name,
    criSocket: CRI_SOCKET,
    // EC2 instances can have several interfaces; the kubelet must register the address the
    // security groups and the load balancer know.
    kubeletExtraArgs: [
      { name: "node-ip", value: ip },
      // There is no cloud controller to set them: the kubelet labels its node with its zone (a label
      // NodeRestriction lets a kubelet set), which CoreDNS's spread and users' workloads use.
      { name: "node-labels", value: `topology.kubernetes.io/region=${region},topology.kubernetes.io/zone=${zone}` },
    ] satisfies KubeadmArg[],
  };
}

function localApiEndpoint(node: ClusterNode) {
  return { advertiseAddress: node.privateIp, bindPort: API_SERVER_PORT };
}

function initConfiguration(node: ClusterNode, region: string): KubeadmDocument {
  return {
    apiVersion: KUBEADM_API_VERSION,
    kind: "InitConfiguration",
    localAPIEndpoint: localApiEndpoint(node),
    nodeRegistration: nodeRegistration(node, region),
  };
}

function leaderElectionArgs(topology: Topology): KubeadmArg[] {
  const { leaseDuration, renewDeadline, retryPeriod } = topology.spec.leaderElection;
  return [
    { name: "leader-elect", value: "true" },
    { name: "leader-elect-lease-duration", value: leaseDuration },
    { name: "leader-elect-renew-deadline", value: renewDeadline },
    { name: "leader-elect-retry-period", value: retryPeriod },
  ];
}

function clusterConfiguration(topology: Topology): KubeadmDocument {
  // The same arguments for both components; rendered in full under each (no YAML aliases).
  const leaderElection = leaderElectionArgs(topology);
  const etcd =
    topology.etcd.topology === "stacked"
      ? { local: { dataDir: STACKED_ETCD_DATA_DIR } }
      : { external: { endpoints: [...topology.etcd.endpoints], ...EXTERNAL_ETCD_CLIENT_FILES } };
  return {
    apiVersion: KUBEADM_API_VERSION,
    kind: "ClusterConfiguration",
    clusterName: topology.stack,
    kubernetesVersion: `v${topology.spec.kubernetesVersion}`,
    // Every kubeconfig kubeadm writes (kubelets, admin.conf) points at the load balancer, so any
    // single control-plane node can fail without clients losing the API.
    controlPlaneEndpoint: topology.controlPlaneEndpoint,
    certificatesDir: CERTIFICATES_DIR,
    networking: {
      dnsDomain: DNS_DOMAIN,
      podSubnet: topology.spec.network.podSubnet,
      serviceSubnet: topology.spec.network.serviceSubnet,
    },
    apiServer: {
      // One certificate is valid behind the load balancer and on every node directly; kubeadm
      // adds the local advertise address itself, the full list keeps all nodes' certs identical.
      certSANs: [topology.controlPlaneEndpointHost, ...topology.controlPlane.map((node) => node.privateIp)],
    },
    controllerManager: { extraArgs: leaderElection },
    scheduler: { extraArgs: leaderElection },
    etcd,
  };
}

function kubeletConfiguration(): KubeadmDocument {
  // kubeadm uploads this to the kubelet-config ConfigMap, so joining nodes get it too; systemd is
  // the cgroup driver containerd is configured with (SystemdCgroup = true).
  return { apiVersion: KUBELET_API_VERSION, kind: "KubeletConfiguration", cgroupDriver: "systemd" };
}

function joinConfiguration(node: ClusterNode, region: string): KubeadmDocument {
  const document: KubeadmDocument = {
    apiVersion: KUBEADM_API_VERSION,
    kind: "JoinConfiguration",
    nodeRegistration: nodeRegistration(node, region),
    discovery: { file: { kubeConfigPath: DISCOVERY_KUBECONFIG_PATH } },
  };
  return node.role === "control-plane" ? { ...document, controlPlane: { localAPIEndpoint: localApiEndpoint(node) } } : document;
}
