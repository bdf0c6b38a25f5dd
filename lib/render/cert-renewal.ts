/**
 * The certificate renewal timer: templates/renew-certs.sh on control-plane nodes (kubeadm's
 * certificates, a year each) and templates/renew-etcd-certs.sh on external etcd nodes (the
 * etcd-pki.sh certificates). Each node runs it daily at its own hour (its ordinal), so two nodes
 * never start together; renew-certs.sh also takes a cluster-wide lock before restarting anything.
 */
import type { NodeFile } from "../node-file";
import type { ClusterNode, Topology } from "../topology";
import { CERT_RENEW_BEFORE_DAYS, CERT_WARN_BEFORE_DAYS } from "../backups";
import { parameterPrefix } from "../secret-store";
import { CRI_SOCKET } from "./kubeadm";

export const CERT_RENEWAL_UNIT = "kubeadm-ha-cert-renewal";
/** The Lease in kube-system that serialises control-plane restarts. */
export const CERT_RENEWAL_LOCK = "kubeadm-ha-cert-renewal";
/** A lock older than this was left by a node that died mid-renewal. */
export const CERT_RENEWAL_LOCK_STALE_SECONDS = 3600;
/** Hours between two nodes' daily runs: node N runs at (N - 1) x this, UTC. */
export const CERT_RENEWAL_HOURS_APART = 3;

export function certRenewalScript(topology: Topology, node: ClusterNode): string | undefined {
  if (node.role === "control-plane") return "renew-certs.sh";
  if (node.role === "etcd" && topology.etcd.topology === "external") return "renew-etcd-certs.sh";
  return undefined;
}

/** Hour of day (UTC) of the node's daily check; control-plane and etcd nodes are offset from each other. */
export function certRenewalHour(node: ClusterNode): number {
  const offset = node.role === "etcd" ? 1 : 0;
  return ((node.ordinal - 1) * CERT_RENEWAL_HOURS_APART + offset) % 24;
}

export function renderCertRenewalUnits(topology: Topology, node: ClusterNode, scriptPath: string): NodeFile[] {
  if (!certRenewalScript(topology, node)) return [];
  const controlPlane = node.role === "control-plane";
  const hour = String(certRenewalHour(node)).padStart(2, "0");
  const service = [
    "[Unit]",
    "Description=kubeadm-ha certificate renewal",
    `ConditionPathExists=${controlPlane ? "/etc/kubernetes/admin.conf" : "/var/lib/kubeadm-ha/etcd-member-ready"}`,
    "",
    "[Service]",
    "Type=oneshot",
    `ExecStart=/bin/bash ${scriptPath}`,
    // renew-certs.sh watches the static pods with crictl.
    ...(controlPlane ? [`Environment=CONTAINER_RUNTIME_ENDPOINT=${CRI_SOCKET}`] : []),
    "",
  ].join("\n");
  const timer = [
    "[Unit]",
    "Description=kubeadm-ha certificate renewal",
    "",
    "[Timer]",
    `OnCalendar=*-*-* ${hour}:00:00 UTC`,
    // A node that was down at its hour checks at boot instead.
    "Persistent=true",
    "RandomizedDelaySec=10min",
    "",
    "[Install]",
    "WantedBy=timers.target",
    "",
  ].join("\n");
  return [
    { path: `/etc/systemd/system/${CERT_RENEWAL_UNIT}.service`, content: service, permissions: "0644" },
    { path: `/etc/systemd/system/${CERT_RENEWAL_UNIT}.timer`, content: timer, permissions: "0644" },
  ];
}

/** cluster.env entries the renewal scripts read (besides what the boot scripts already have). */
export function certRenewalEnv(topology: Topology, node: ClusterNode): [string, string][] {
  if (!certRenewalScript(topology, node)) return [];
  const thresholds: [string, string][] = [
    ["CERT_RENEW_SECONDS", String(CERT_RENEW_BEFORE_DAYS * 86400)],
    ["CERT_WARN_SECONDS", String(CERT_WARN_BEFORE_DAYS * 86400)],
  ];
  if (node.role !== "control-plane") return thresholds;
  return [
    ...thresholds,
    ["CERT_LOCK", CERT_RENEWAL_LOCK],
    ["CERT_LOCK_STALE_SECONDS", String(CERT_RENEWAL_LOCK_STALE_SECONDS)],
    ["ADMIN_KUBECONFIG_PARAMETER", `${parameterPrefix(topology.stack, "control-plane")}/admin.conf`],
  ];
}
