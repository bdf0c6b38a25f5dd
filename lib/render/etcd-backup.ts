/**
 * The etcd backup timer on every etcd member (control-plane nodes with stacked etcd, etcd nodes with
 * external etcd): templates/etcd-backup.sh with its oneshot service and timer (day2.ts adds the
 * drop-in that starts the timer).
 */
import type { NodeFile } from "../node-file";
import type { ClusterNode, Topology } from "../topology";
import { ETCD_CLIENT_PORT } from "../topology";
import { BACKUP_OBJECT_PREFIX, backupMaxAgeSeconds, backupTimer } from "../backups";
import { etcdCertificatePaths } from "./etcd";
import { CERTIFICATES_DIR, CRI_SOCKET, STACKED_ETCD_DATA_DIR } from "./kubeadm";

export const ETCD_BACKUP_UNIT = "kubeadm-ha-etcd-backup";
export const ETCD_BACKUP_SCRIPT = "etcd-backup.sh";
const STATE_DIR = "/var/lib/kubeadm-ha";

/** True when the node runs an etcd member and the spec wants backups. */
export function takesEtcdBackups(topology: Topology, node: ClusterNode): boolean {
  if (!topology.spec.backups.enabled) return false;
  return topology.etcd.topology === "stacked" ? node.role === "control-plane" : node.role === "etcd";
}

/** The service and timer (the script itself is added by the caller, like every template). */
export function renderEtcdBackupUnits(topology: Topology, node: ClusterNode, scriptPath: string): NodeFile[] {
  if (!takesEtcdBackups(topology, node)) return [];
  const timer = backupTimer(topology.spec.backups.schedule);
  if (!timer) throw new Error(`etcd-backup: backups.schedule ${JSON.stringify(topology.spec.backups.schedule)} is not a time span or calendar expression`);
  const stacked = topology.etcd.topology === "stacked";
  const service = [
    "[Unit]",
    "Description=kubeadm-ha etcd backup",
    // Only once this node is a member: kubeadm wrote the etcd manifest, or etcd-node.sh finished.
    `ConditionPathExists=${stacked ? "/etc/kubernetes/manifests/etcd.yaml" : `${STATE_DIR}/etcd-member-ready`}`,
    "",
    "[Service]",
    "Type=oneshot",
    `ExecStart=/bin/bash ${scriptPath}`,
    // crictl reaches kubeadm's etcd container through containerd (without a config it probes sockets).
    ...(stacked ? [`Environment=CONTAINER_RUNTIME_ENDPOINT=${CRI_SOCKET}`] : []),
    // Below etcd itself (Nice=-10 on etcd nodes): raft heartbeats go first.
    "Nice=10",
    "IOSchedulingClass=idle",
    "",
  ].join("\n");
  const schedule =
    timer.kind === "span"
      ? ["OnBootSec=5min", `OnUnitActiveSec=${timer.value}`]
      : [`OnCalendar=${timer.value}`, "Persistent=true"];
  const timerUnit = ["[Unit]", "Description=kubeadm-ha etcd backup", "", "[Timer]", ...schedule, "AccuracySec=1s", "", "[Install]", "WantedBy=timers.target", ""].join("\n");
  return [
    { path: `/etc/systemd/system/${ETCD_BACKUP_UNIT}.service`, content: service, permissions: "0644" },
    { path: `/etc/systemd/system/${ETCD_BACKUP_UNIT}.timer`, content: timerUnit, permissions: "0644" },
  ];
}

/** cluster.env entries etcd-backup.sh reads. */
export function etcdBackupEnv(topology: Topology, node: ClusterNode): [string, string][] {
  if (!takesEtcdBackups(topology, node)) return [];
  const stacked = topology.etcd.topology === "stacked";
  // Stacked: kubeadm's etcd healthcheck client, made for etcdctl; external: the member's server
  // certificate, which carries clientAuth too.
  const tls = stacked
    ? { ca: `${CERTIFICATES_DIR}/etcd/ca.crt`, cert: `${CERTIFICATES_DIR}/etcd/healthcheck-client.crt`, key: `${CERTIFICATES_DIR}/etcd/healthcheck-client.key` }
    : (({ caCert, serverCert, serverKey }) => ({ ca: caCert, cert: serverCert, key: serverKey }))(etcdCertificatePaths());
  return [
    ["ETCD_TOOLS", stacked ? "container" : "host"],
    ["ETCD_BACKUP_ENDPOINT", `https://127.0.0.1:${ETCD_CLIENT_PORT}`],
    ["ETCD_BACKUP_CA", tls.ca],
    ["ETCD_BACKUP_CERT", tls.cert],
    ["ETCD_BACKUP_KEY", tls.key],
    // Stacked: inside the data dir, the etcd container's only writable host path.
    ["ETCD_BACKUP_DIR", stacked ? STACKED_ETCD_DATA_DIR : STATE_DIR],
    ["BACKUP_PREFIX", BACKUP_OBJECT_PREFIX],
    ["BACKUP_MAX_AGE_SECONDS", String(backupMaxAgeSeconds(topology.spec))],
  ];
}
