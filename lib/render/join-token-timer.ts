/**
 * The join token's lifetime and the systemd timer on every control-plane node that refreshes the
 * published token (templates/refresh-join-token.sh).
 */
import type { NodeFile } from "../node-file";

export const JOIN_TOKEN_UNIT = "kubeadm-ha-join-token";

/**
 * Join tokens live 24 h and are replaced once older than 6 h; the timer checks hourly with up to
 * 10 min of random delay, so a node that boots at any time finds a token with at least about
 * 16 h 50 min left (24 h - 6 h - 1 h - 10 min) while any control-plane node is up.
 */
export const JOIN_TOKEN_TTL = "24h";
export const JOIN_TOKEN_REFRESH_AFTER_SECONDS = 6 * 3600;

/** The timer that keeps a fresh join token published, and the service it starts. */
export function joinTokenTimerFiles(refreshScriptPath: string): NodeFile[] {
  const service = [
    "[Unit]",
    "Description=kubeadm-ha: refresh the published join token",
    // Only a node that is part of the control plane can create tokens.
    "ConditionPathExists=/etc/kubernetes/admin.conf",
    "",
    "[Service]",
    "Type=oneshot",
    `ExecStart=/bin/bash ${refreshScriptPath}`,
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
