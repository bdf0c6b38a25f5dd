/**
 * Day-2 timers a node carries besides its boot scripts: etcd backups (etcd members) and certificate
 * renewal (control-plane nodes, external etcd members). node-files.ts adds these files and
 * cluster.env entries to every node; each module decides which nodes get what.
 */
import type { NodeFile } from "../node-file";
import type { ClusterNode, Topology } from "../topology";
import { ETCD_BACKUP_SCRIPT, ETCD_BACKUP_UNIT, etcdBackupEnv, renderEtcdBackupUnits, takesEtcdBackups } from "./etcd-backup";
import { CERT_RENEWAL_UNIT, certRenewalEnv, certRenewalScript, renderCertRenewalUnits } from "./cert-renewal";
import { ETCD_UNIT_PATH } from "./etcd";

/**
 * A drop-in on the node's main service (kubelet, which runs the control plane and stacked etcd, or
 * etcd) wants the timers, instead of `systemctl enable`: they start whenever that service starts,
 * so no boot script needs a step for them, and each service's Condition keeps it from running
 * before the node has joined.
 */
export const DAY2_DROP_IN = "kubeadm-ha-day2.conf";

/** `script(name)` installs templates/<name> as node-files.ts does for the boot scripts. */
export function renderDay2Files(topology: Topology, node: ClusterNode, script: (name: string) => NodeFile): NodeFile[] {
  const files: NodeFile[] = [];
  const timers: string[] = [];
  if (takesEtcdBackups(topology, node)) {
    const backup = script(ETCD_BACKUP_SCRIPT);
    files.push(backup, ...renderEtcdBackupUnits(topology, node, backup.path));
    timers.push(`${ETCD_BACKUP_UNIT}.timer`);
  }
  const renewal = certRenewalScript(topology, node);
  if (renewal) {
    const renew = script(renewal);
    files.push(renew, ...renderCertRenewalUnits(topology, node, renew.path));
    // Sourced by renew-certs.sh where the API server's etcd client certificate comes from etcd-1.
    if (node.role === "control-plane" && topology.etcd.topology === "external") files.push(script("renew-etcd-client.sh"));
    timers.push(`${CERT_RENEWAL_UNIT}.timer`);
  }
  if (timers.length > 0) {
    const owner = node.role === "etcd" ? ETCD_UNIT_PATH.slice(ETCD_UNIT_PATH.lastIndexOf("/") + 1) : "kubelet.service";
    files.push({ path: `/etc/systemd/system/${owner}.d/${DAY2_DROP_IN}`, content: `[Unit]\nWants=${timers.join(" ")}\n`, permissions: "0644" });
  }
  return files;
}

export function day2Env(topology: Topology, node: ClusterNode): [string, string][] {
  return [...etcdBackupEnv(topology, node), ...certRenewalEnv(topology, node)];
}
