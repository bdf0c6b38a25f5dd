/**
 * Every file a node receives through cloud-init write_files: /etc/kubeadm-ha/cluster.env (the
 * non-secret facts its scripts read, ./cluster-env.ts), the boot scripts of its role
 * (lib/roles.ts) as installed, and the role's configuration (kubeadm, load balancer, etcd, pod
 * network). Nothing here is secret: secrets are created at boot and travel only through the
 * parameter store.
 */
import * as fs from "fs";
import * as path from "path";
import type { NodeFile } from "../node-file";
import type { ClusterNode, NodeRole, Topology } from "../topology";
import { ROLE_PROFILES } from "../roles";
import { renderLoadBalancerFiles } from "../load-balancers/registry";
import { EtcdInitialClusterState, renderEtcdMemberFiles } from "./etcd";
import { renderInitNodeJoinConfigFile } from "./kubeadm";
import { renderCniFiles } from "./cni";
import { renderCorednsFiles } from "./coredns";
import { CLUSTER_ENV_PATH, renderClusterEnv } from "./cluster-env";
import { joinTokenTimerFiles } from "./join-token-timer";
import { kubernetesNodeFiles } from "./kubernetes-node";
import { renderDay2Files } from "./day2";

export { CLUSTER_ENV_PATH, clusterEnv } from "./cluster-env";
export { JOIN_TOKEN_REFRESH_AFTER_SECONDS, JOIN_TOKEN_TTL, JOIN_TOKEN_UNIT } from "./join-token-timer";

/** Where the boot scripts live on a node; the boot unit runs BOOT_ENTRY_PATH. */
export const SCRIPT_DIR = "/usr/local/lib/kubeadm-ha";
export const BOOT_ENTRY_PATH = `${SCRIPT_DIR}/boot.sh`;
/**
 * The systemd unit that runs BOOT_ENTRY_PATH: cloud-init's runcmd only enables and starts it, so a
 * failed step is retried (with backoff, for ever) instead of stranding the node, and a reboot runs
 * the (idempotent) boot again.
 */
export const BOOT_UNIT = "kubeadm-ha-boot.service";
export const BOOT_UNIT_PATH = `/etc/systemd/system/${BOOT_UNIT}`;
/** The boot unit's backoff: the first retry after RestartSec, growing to RestartMaxDelaySec. */
export const BOOT_RETRY = { firstDelaySeconds: 15, steps: 6, maxDelaySeconds: 300 } as const;

const TEMPLATE_DIR = path.join(__dirname, "..", "..", "templates");

/**
 * A boot script as installed: the template without its comment lines (`# shellcheck` directives
 * aside) and blank lines, indented with tabs. EC2 caps user-data at 16 KB and the comments are for the repository's readers;
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
    // `# shellcheck` directives stay: the node gets scripts that pass the same shellcheck as templates/.
    if ((/^\s*#/.test(line) && !/^\s*# shellcheck /.test(line)) || line === "") return;
    // A tab per two spaces of indentation: bash reads them alike, and it saves bytes too.
    kept.push(line.replace(/^(?: {2})+/, (indent) => "\t".repeat(indent.length / 2)));
    const heredoc = /<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1/.exec(line);
    if (heredoc) heredocEnd = heredoc[2];
  });
  if (heredocEnd !== undefined) throw new Error(`node-files: templates/${name}: the heredoc ending in ${heredocEnd} is never closed`);
  return `${kept.join("\n")}\n`;
}

/**
 * 0644: every script is run as `bash <script>` (the boot unit, boot.sh, the timer's service) or sourced,
 * never executed directly, and the default mode costs no bytes in the user-data.
 */
const installedScripts = new Map<string, string>();

/**
 * A boot script as every node receives it: templates/<name> as committed, installed
 * (installedScript). The same bytes on every node, so read and made once per process.
 */
function script(name: string): NodeFile {
  let content = installedScripts.get(name);
  if (content === undefined) {
    content = installedScript(name, fs.readFileSync(path.join(TEMPLATE_DIR, name), "utf8"));
    installedScripts.set(name, content);
  }
  return { path: `${SCRIPT_DIR}/${name}`, content, permissions: "0644" };
}

/** The scripts boot.sh runs, in order. */
export function bootScripts(node: ClusterNode): string[] {
  return [...ROLE_PROFILES[node.role].bootScripts[node.bootstrap]];
}

/** Each role's own files, after cluster.env and the boot scripts; a new role adds its entry here. */
const ROLE_FILES: Readonly<Record<NodeRole, (topology: Topology, node: ClusterNode, etcdClusterState: EtcdInitialClusterState) => NodeFile[]>> = {
  "load-balancer": (topology) => renderLoadBalancerFiles(topology),
  etcd: (topology, node, etcdClusterState) => [script("etcd-pki.sh"), ...renderEtcdMemberFiles(topology, node, etcdClusterState)],
  "control-plane": (topology, node) => {
    const files = [
      ...kubernetesNodeFiles(topology, node),
      script("refresh-join-token.sh"),
      ...joinTokenTimerFiles(`${SCRIPT_DIR}/refresh-join-token.sh`),
    ];
    // The init node also carries what a control-plane join needs: a replacement of it joins the
    // running cluster instead of initialising a second one (init-control-plane.sh).
    if (node.bootstrap === "init") {
      files.push(...renderCniFiles(topology), ...renderCorednsFiles(topology), script("join-node.sh"), renderInitNodeJoinConfigFile(topology, node));
    }
    return files;
  },
  // An Auto Scaling group's worker learns its identity at boot (its cluster.env sources node-identity.sh).
  worker: (topology, node) => [...kubernetesNodeFiles(topology, node), ...(node.dynamic ? [script("node-identity.sh")] : [])],
};

/** etcdClusterState: "existing" renders an external etcd node that joins the running cluster. */
export function renderNodeFiles(topology: Topology, node: ClusterNode, etcdClusterState: EtcdInitialClusterState = "new"): NodeFile[] {
  const files: NodeFile[] = [
    { path: CLUSTER_ENV_PATH, content: renderClusterEnv(topology, node), permissions: "0644" },
    bootUnitFile(),
    script("common.sh"),
    script("boot.sh"),
    ...bootScripts(node).map(script),
    ...ROLE_FILES[node.role](topology, node, etcdClusterState),
  ];
  files.push(...renderDay2Files(topology, node, script));
  assertUniqueBaseNames(node, files);
  return files;
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

function bootUnitFile(): NodeFile {
  const unit = [
    "[Unit]",
    "Description=kubeadm-ha: bootstrap this node, retried until it succeeds",
    "Wants=network-online.target",
    "After=network-online.target",
    // Never give up: each attempt is bounded by the scripts' own waits, and a retry resumes from
    // the markers of what is already done.
    "StartLimitIntervalSec=0",
    "",
    "[Service]",
    "Type=oneshot",
    "RemainAfterExit=yes",
    "TimeoutStartSec=infinity",
    `ExecStart=/bin/bash ${BOOT_ENTRY_PATH}`,
    "Restart=on-failure",
    `RestartSec=${BOOT_RETRY.firstDelaySeconds}s`,
    `RestartSteps=${BOOT_RETRY.steps}`,
    `RestartMaxDelaySec=${BOOT_RETRY.maxDelaySeconds}s`,
    "StandardOutput=journal+console",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
  return { path: BOOT_UNIT_PATH, content: unit, permissions: "0644" };
}
