/**
 * Every file a node receives through cloud-init write_files: its configuration (kubeadm, load
 * balancer, etcd, pod network), the boot scripts its role runs, and /etc/kubeadm-ha/cluster.env,
 * the non-secret facts those scripts read. Nothing here is secret: secrets are created at boot
 * and travel only through the parameter store.
 */
import * as fs from "fs";
import * as path from "path";
import type { NodeFile } from "../node-file";
import type { ClusterNode, Topology } from "../topology";
import { CONTROL_PLANE_PKI_SUBPATH, kmsAlias, parameterPrefix } from "../secret-store";
import { renderLoadBalancerFiles } from "./load-balancer";
import { EtcdInitialClusterState, renderEtcdMemberFiles } from "./etcd";
import {
  DISCOVERY_KUBECONFIG_PATH,
  KUBEADM_CONFIG_PATH,
  KUBEADM_JOIN_CONFIG_PATH,
  pkiFilesFromEtcd,
  pkiFilesFromInitNode,
  renderInitNodeJoinConfigFile,
  renderKubeadmConfigFile,
} from "./kubeadm";
import { CniPlugin, cniDaemonSetToRestart, cniManifestUrls, cniResourceCrd, CNI_RESOURCE_PATH, renderCniFiles } from "./cni";

export const CLUSTER_ENV_PATH = "/etc/kubeadm-ha/cluster.env";
/** Where the boot scripts live on a node; the user-data runs BOOT_ENTRY_PATH. */
export const SCRIPT_DIR = "/usr/local/lib/kubeadm-ha";
export const BOOT_ENTRY_PATH = `${SCRIPT_DIR}/boot.sh`;
export const JOIN_TOKEN_UNIT = "kubeadm-ha-join-token";

/**
 * Join tokens live 24 h and are replaced once older than 6 h; the timer checks hourly with up to
 * 10 min of random delay, so a node that boots at any time finds a token with at least about
 * 16 h 50 min left (24 h - 6 h - 1 h - 10 min) while any control-plane node is up.
 */
export const JOIN_TOKEN_TTL = "24h";
export const JOIN_TOKEN_REFRESH_AFTER_SECONDS = 6 * 3600;

const TEMPLATE_DIR = path.join(__dirname, "..", "..", "templates");
const templateCache = new Map<string, string>();

/** Reads templates/<name> once per process; the content is the file exactly as committed. */
function template(name: string): string {
  let content = templateCache.get(name);
  if (content === undefined) {
    content = fs.readFileSync(path.join(TEMPLATE_DIR, name), "utf8");
    templateCache.set(name, content);
  }
  return content;
}

/**
 * A boot script as installed: the template without its comment lines and blank lines, indented
 * with tabs. EC2 caps user-data at 16 KB and the comments are for the repository's readers;
 * cluster.env's header points to them. Heredoc bodies are kept verbatim, since a '#' there is
 * data, not a comment, and their indentation may matter.
 */
export function installedScript(name: string, source: string): string {
  const lines = source.split("\n");
  const kept: string[] = [];
  let heredocEnd: string | undefined;
  lines.forEach((line, index) => {
    if (heredocEnd !== undefined) {
      kept.push(line);
      if (line.replace(/^\t+/, "") === heredocEnd) heredocEnd = undefined;
      return;
    }
    if (index === 0 && line.startsWith("#!")) {
      kept.push(line);
      return;
    }
    if (/^\s*#/.test(line) || line === "") return;
    // A tab per two spaces of indentation: bash reads them alike, and it saves bytes too.
    kept.push(line.replace(/^(?: {2})+/, (indent) => "\t".repeat(indent.length / 2)));
    const heredoc = /<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1/.exec(line);
    if (heredoc) heredocEnd = heredoc[2];
  });
  if (heredocEnd !== undefined) throw new Error(`node-files: templates/${name}: the heredoc ending in ${heredocEnd} is never closed`);
  return `${kept.join("\n")}\n`;
}

/**
 * 0644: every script is run as `bash <script>` (runcmd, boot.sh, the timer's service) or sourced,
 * never executed directly, and the default mode costs no bytes in the user-data.
 */
function script(name: string): NodeFile {
  return { path: `${SCRIPT_DIR}/${name}`, content: installedScript(name, template(name)), permissions: "0644" };
}

/** The scripts boot.sh runs, in order. */
export function bootScripts(topology: Topology, node: ClusterNode): string[] {
  switch (node.role) {
    case "load-balancer":
      return ["load-balancer.sh"];
    case "etcd":
      return ["etcd-node.sh"];
    case "control-plane":
      return node.name === topology.initNode.name
        ? ["install-kubernetes.sh", "init-control-plane.sh"]
        : ["install-kubernetes.sh", "join-node.sh"];
    case "worker":
      return ["install-kubernetes.sh", "join-node.sh"];
  }
}

/** etcdClusterState: "existing" renders an external etcd node that joins the running cluster. */
export function renderNodeFiles(topology: Topology, node: ClusterNode, etcdClusterState: EtcdInitialClusterState = "new"): NodeFile[] {
  const files: NodeFile[] = [
    { path: CLUSTER_ENV_PATH, content: renderClusterEnv(topology, node), permissions: "0644" },
    script("common.sh"),
    script("boot.sh"),
    ...bootScripts(topology, node).map(script),
  ];
  switch (node.role) {
    case "load-balancer":
      files.push(...renderLoadBalancerFiles(topology));
      break;
    case "etcd":
      files.push(script("etcd-pki.sh"), ...renderEtcdMemberFiles(topology, node, etcdClusterState));
      break;
    case "control-plane":
      files.push(...kubernetesNodeFiles(topology, node), script("refresh-join-token.sh"), ...joinTokenTimerFiles());
      // The init node also carries what a control-plane join needs: a replacement of it joins the
      // running cluster instead of initialising a second one (init-control-plane.sh).
      if (node.name === topology.initNode.name) {
        files.push(...renderCniFiles(topology), script("join-node.sh"), renderInitNodeJoinConfigFile(topology, node));
      }
      break;
    case "worker":
      files.push(...kubernetesNodeFiles(topology, node));
      break;
  }
  assertUniqueBaseNames(node, files);
  return files;
}

function kubernetesNodeFiles(topology: Topology, node: ClusterNode): NodeFile[] {
  return [
    renderKubeadmConfigFile(topology, node),
    // Container networking needs overlayfs for images and bridged traffic visible to iptables.
    { path: "/etc/modules-load.d/kubeadm-ha.conf", content: "overlay\nbr_netfilter\n", permissions: "0644" },
    {
      path: "/etc/sysctl.d/99-kubeadm-ha.conf",
      content: "net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = 1\n",
      permissions: "0644",
    },
  ];
}

function joinTokenTimerFiles(): NodeFile[] {
  const service = [
    "[Unit]",
    "Description=kubeadm-ha: refresh the published join token",
    // Only a node that is part of the control plane can create tokens.
    "ConditionPathExists=/etc/kubernetes/admin.conf",
    "",
    "[Service]",
    "Type=oneshot",
    `ExecStart=/bin/bash ${SCRIPT_DIR}/refresh-join-token.sh`,
    "",
  ].join("\n");
  const timer = [
    "[Unit]",
    "Description=kubeadm-ha: hourly join token check",
    "",
    "[Timer]",
    "OnBootSec=15min",
    "OnUnitActiveSec=1h",
    // Spreads the control-plane nodes apart so they rarely refresh at the same moment.
    "RandomizedDelaySec=10min",
    "",
    "[Install]",
    "WantedBy=timers.target",
    "",
  ].join("\n");
  return [
    { path: `/etc/systemd/system/${JOIN_TOKEN_UNIT}.service`, content: service, permissions: "0644" },
    { path: `/etc/systemd/system/${JOIN_TOKEN_UNIT}.timer`, content: timer, permissions: "0644" },
  ];
}

function loadBalancerConfigPath(topology: Topology): string {
  const wanted = topology.spec.loadBalancer.kind === "haproxy" ? "haproxy.cfg" : "nginx.conf";
  const file = renderLoadBalancerFiles(topology).find((candidate) => path.posix.basename(candidate.path) === wanted);
  if (!file) throw new Error(`node-files: renderLoadBalancerFiles gave no ${wanted} for stack ${topology.stack}`);
  return file.path;
}

/**
 * Shell-sourceable KEY='value' pairs: all the scripts know about the cluster. Each role gets only
 * the facts its scripts use, so a worker does not even learn where control-plane material lives.
 */
export function clusterEnv(topology: Topology, node: ClusterNode): [string, string][] {
  const { spec, stack } = topology;
  const controlPlanePrefix = parameterPrefix(stack, "control-plane");
  const common: [string, string][] = [
    ["STACK", stack],
    ["AWS_REGION", spec.region],
    ["NODE_NAME", node.name],
    ["NODE_ROLE", node.role],
    ["NODE_IP", node.privateIp],
    ["BOOT_SCRIPTS", bootScripts(topology, node).join(" ")],
    ["CONTROL_PLANE_ENDPOINT", topology.controlPlaneEndpoint],
  ];
  const controlPlanePki: [string, string][] = [
    ["CONTROL_PLANE_PKI_PARAMETER_PREFIX", `${controlPlanePrefix}/${CONTROL_PLANE_PKI_SUBPATH}`],
    ["CONTROL_PLANE_KMS_KEY", kmsAlias(stack, "control-plane")],
    // What the init node publishes, and (with external etcd) what the etcd nodes publish; a
    // joining control-plane node fetches both.
    ["PKI_FROM_INIT_NODE", pkiFilesFromInitNode(topology).join(" ")],
    ["PKI_FROM_ETCD", pkiFilesFromEtcd(topology).join(" ")],
  ];
  const kubernetes: [string, string][] = [
    ["KUBERNETES_VERSION", spec.kubernetesVersion],
    ["KUBERNETES_MINOR", spec.kubernetesVersion.split(".").slice(0, 2).join(".")],
    ["KUBEADM_CONFIG", KUBEADM_CONFIG_PATH],
    ["DISCOVERY_KUBECONFIG", DISCOVERY_KUBECONFIG_PATH],
    ["JOIN_KUBECONFIG_PARAMETER", `${parameterPrefix(stack, "join")}/discovery-kubeconfig`],
  ];
  const joinTokenPublisher: [string, string][] = [
    ["JOIN_KMS_KEY", kmsAlias(stack, "join")],
    ["JOIN_TOKEN_TTL", JOIN_TOKEN_TTL],
    ["JOIN_TOKEN_REFRESH_AFTER_SECONDS", String(JOIN_TOKEN_REFRESH_AFTER_SECONDS)],
    ["JOIN_TOKEN_UNIT", JOIN_TOKEN_UNIT],
  ];
  switch (node.role) {
    case "load-balancer":
      return [...common, ["LB_KIND", spec.loadBalancer.kind], ["LB_CONFIG", loadBalancerConfigPath(topology)]];
    case "etcd":
      return [
        ...common,
        ["ETCD_VERSION", spec.etcd.version],
        ["ETCD_FIRST_MEMBER", topology.etcd.members[0].name],
        ["ETCD_PARAMETER_PREFIX", parameterPrefix(stack, "etcd")],
        ["ETCD_KMS_KEY", kmsAlias(stack, "etcd")],
        ...controlPlanePki,
      ];
    case "worker":
      return [...common, ...kubernetes];
    case "control-plane":
      if (node.name !== topology.initNode.name) return [...common, ...kubernetes, ...controlPlanePki, ...joinTokenPublisher];
      return [
        ...common,
        ...kubernetes,
        ...controlPlanePki,
        ...joinTokenPublisher,
        ["ADMIN_KUBECONFIG_PARAMETER", `${controlPlanePrefix}/admin.conf`],
        ["KUBEADM_JOIN_CONFIG", KUBEADM_JOIN_CONFIG_PATH],
        ...cniEnv(spec.cni.plugin),
      ];
  }
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

function renderClusterEnv(topology: Topology, node: ClusterNode): string {
  const header = `# kubeadm-ha facts for ${node.name}'s boot scripts (templates/*.sh minus comments); no secrets.\n`;
  return header + clusterEnv(topology, node).map(([key, value]) => `${key}=${shellQuote(value)}\n`).join("");
}

function assertUniqueBaseNames(node: ClusterNode, files: readonly NodeFile[]): void {
  const seen = new Map<string, string>();
  for (const file of files) {
    const base = path.posix.basename(file.path);
    const previous = seen.get(base);
    if (previous) throw new Error(`node-files: ${node.name} gets two files named ${base}: ${previous} and ${file.path}`);
    seen.set(base, file.path);
  }
}
