/**
 * The files that make an external etcd node a cluster member: one etcd configuration file and the
 * systemd unit that runs the official release binary with it. Pure: the same topology and node
 * always give byte-identical files.
 *
 * Every key written here is read by etcd 3.4, 3.5 and 3.6 alike (checked against embed.Config's JSON
 * tags upstream and run with etcd 3.4 by the integration test). etcd ignores unknown keys in a config
 * file instead of failing, so a key that one release dropped would be silently lost: that is why
 * nothing v2-only (enable-v2) and nothing newer than 3.4 (tls-min-version, feature-gates,
 * experimental-*) appears.
 */
import { Document } from "yaml";
import type { NodeFile } from "../node-file";
import type { ClusterNode, EtcdMember, Topology } from "../topology";
import { ETCD_CLIENT_PORT } from "../topology";

export const ETCD_BINARY_PATH = "/usr/local/bin/etcd";
export const ETCD_CONFIG_PATH = "/etc/etcd/etcd.conf.yml";
export const ETCD_UNIT_PATH = "/etc/systemd/system/etcd.service";
export const ETCD_DATA_DIR = "/var/lib/etcd";
export const ETCD_PKI_DIR = "/etc/etcd/pki";

/**
 * The client certificate kube-apiserver presents to etcd, as the bootstrap issues it with
 * `etcd-pki.sh client DIR kube-apiserver-etcd-client apiserver-etcd-client`.
 */
export const APISERVER_ETCD_CLIENT = {
  commonName: "kube-apiserver-etcd-client",
  fileBase: "apiserver-etcd-client",
} as const;

export interface EtcdCertificatePaths {
  readonly caCert: string;
  /** Present only where certificates are signed (the bootstrap decides where the CA key lives). */
  readonly caKey: string;
  /** Client-facing TLS (port 2379); `etcd-pki.sh member` writes it. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** Member-to-member TLS (port 2380); `etcd-pki.sh member` writes it. */
  readonly peerCert: string;
  readonly peerKey: string;
}

/** Where templates/etcd-pki.sh writes each file when given `dir`; the rendered config reads them there. */
export function etcdCertificatePaths(dir: string = ETCD_PKI_DIR): EtcdCertificatePaths {
  return {
    caCert: `${dir}/ca.crt`,
    caKey: `${dir}/ca.key`,
    serverCert: `${dir}/server.crt`,
    serverKey: `${dir}/server.key`,
    peerCert: `${dir}/peer.crt`,
    peerKey: `${dir}/peer.key`,
  };
}

/**
 * Raft timing. Members sit in different zones of one region: round trips are about 1 ms and gp3
 * fsync p99 is about 10 ms, both two orders of magnitude below these values, so etcd's own defaults
 * (also what kubeadm's stacked etcd runs) are safe and give the fastest failover: a dead leader is
 * replaced within 1-2 election timeouts, far inside client-go's 10 s renewDeadline, so
 * kube-controller-manager and kube-scheduler keep their leases through an etcd leader loss.
 * etcd requires election-timeout >= 5 x heartbeat-interval; 10 x is its recommendation.
 */
export const ETCD_HEARTBEAT_INTERVAL_MS = 100;
export const ETCD_ELECTION_TIMEOUT_MS = 1000;

/**
 * 4 GiB: twice etcd's 2 GiB default, so a burst of Events or Leases does not trip the NOSPACE alarm
 * (which makes the whole cluster read-only), and half of etcd's suggested 8 GiB maximum because the
 * default t3.small has 2 GiB of memory to page the memory-mapped database through.
 */
export const ETCD_QUOTA_BACKEND_BYTES = 4 * 1024 ** 3;

/**
 * kube-apiserver already compacts every 5 minutes (--etcd-compaction-interval); this hourly periodic
 * compaction is the backstop that keeps the database bounded while no API server is running.
 */
export const ETCD_AUTO_COMPACTION = { mode: "periodic", retention: "1h" } as const;

/**
 * Snapshot after 10000 applied entries: the 3.6 default, pinned so 3.5 (default 100000) does not hold
 * ten times as many raft entries in memory on a 2 GiB node.
 */
export const ETCD_SNAPSHOT_COUNT = 10000;

/** The initial-cluster-token: distinct per stack, so members of two stacks can never join each other. */
export function etcdInitialClusterToken(stack: string): string {
  return `kubeadm-ha-${stack}-etcd`;
}

/** `name=peerUrl` for every member, in ordinal order: identical on every member, as etcd requires. */
export function etcdInitialCluster(members: readonly EtcdMember[]): string {
  return members.map((member) => `${member.name}=${member.peerUrl}`).join(",");
}

/**
 * "new" for the founding members. "existing" for a member that joins the running cluster (a
 * rotation's replacement or a scaled-up member), after `etcdctl member add` has announced it: the
 * day-2 commands render that node so (lib/day2/guard-lift.ts).
 */
export type EtcdInitialClusterState = "new" | "existing";

export function renderEtcdMemberFiles(topology: Topology, node: ClusterNode, clusterState: EtcdInitialClusterState = "new"): NodeFile[] {
  const member = memberFor(topology, node);
  return [
    { path: ETCD_CONFIG_PATH, content: renderConfig(topology, member, clusterState), permissions: "0644" },
    { path: ETCD_UNIT_PATH, content: renderUnit(topology), permissions: "0644" },
  ];
}

function memberFor(topology: Topology, node: ClusterNode): EtcdMember {
  if (topology.etcd.topology !== "external") {
    throw new Error(
      `renderEtcdMemberFiles: stack ${topology.stack} uses stacked etcd, which kubeadm runs as a static pod on the ` +
        `control-plane nodes; external etcd member files exist only for etcd.topology external`,
    );
  }
  if (node.role !== "etcd") {
    throw new Error(`renderEtcdMemberFiles: ${node.name} is a ${node.role} node, not an etcd node`);
  }
  const member = topology.etcd.members.find((candidate) => candidate.name === node.name);
  if (!member || member.ip !== node.privateIp) {
    throw new Error(`renderEtcdMemberFiles: ${node.name} (${node.privateIp}) is not an etcd member of stack ${topology.stack}`);
  }
  return member;
}

function renderConfig(topology: Topology, member: EtcdMember, clusterState: EtcdInitialClusterState): string {
  const certificates = etcdCertificatePaths();
  // The key order follows etcd.conf.yml.sample so the file reads like the upstream reference.
  const config = {
    name: member.name,
    "data-dir": ETCD_DATA_DIR,
    "snapshot-count": ETCD_SNAPSHOT_COUNT,
    "heartbeat-interval": ETCD_HEARTBEAT_INTERVAL_MS,
    "election-timeout": ETCD_ELECTION_TIMEOUT_MS,
    "quota-backend-bytes": ETCD_QUOTA_BACKEND_BYTES,
    "listen-peer-urls": member.peerUrl,
    // Loopback too, so etcdctl on the node itself works without knowing the private IP.
    "listen-client-urls": [member.clientUrl, `https://127.0.0.1:${ETCD_CLIENT_PORT}`].join(","),
    "initial-advertise-peer-urls": member.peerUrl,
    // Only the private IP: the loopback listener must never be handed to remote clients.
    "advertise-client-urls": member.clientUrl,
    "initial-cluster": etcdInitialCluster(topology.etcd.members),
    "initial-cluster-token": etcdInitialClusterToken(topology.stack),
    // Read only on first boot; once the data dir holds a WAL, restarts rejoin the existing cluster.
    "initial-cluster-state": clusterState,
    // Pre-vote is the default from 3.5; pinned so a member that rejoins after a partition cannot
    // force a needless election on any release.
    "pre-vote": true,
    // The JSON API on the client port (/v3/kv/..., used by curl-based checks). On by default from
    // 3.5; 3.4 turns it on only from the command line, not from a config file.
    "enable-grpc-gateway": true,
    "client-transport-security": {
      "cert-file": certificates.serverCert,
      "key-file": certificates.serverKey,
      "client-cert-auth": true,
      "trusted-ca-file": certificates.caCert,
    },
    "peer-transport-security": {
      "cert-file": certificates.peerCert,
      "key-file": certificates.peerKey,
      "client-cert-auth": true,
      "trusted-ca-file": certificates.caCert,
    },
    // zap is the only logger from 3.5; 3.4 would default to the deprecated capnslog.
    logger: "zap",
    // stderr goes to the journal through systemd, without depending on etcd's journald writer.
    "log-outputs": ["stderr"],
    "auto-compaction-mode": ETCD_AUTO_COMPACTION.mode,
    "auto-compaction-retention": ETCD_AUTO_COMPACTION.retention,
  };
  const document = new Document(config);
  document.commentBefore =
    ` etcd ${topology.spec.etcd.version} member ${member.name} of stack ${topology.stack}.\n` +
    ` Rendered by kubeadm-ha from clusters/${topology.stack}.yaml; edit the spec, not this file.\n` +
    ` Read by: ${ETCD_BINARY_PATH} --config-file ${ETCD_CONFIG_PATH} (command-line flags and ETCD_* variables are ignored).`;
  return document.toString({ lineWidth: 0 });
}

function renderUnit(topology: Topology): string {
  const sections: Array<[string, Array<[string, string | number]>]> = [
    [
      "Unit",
      [
        ["Description", `etcd ${topology.spec.etcd.version} member of ${topology.stack} (kubeadm-ha)`],
        ["Documentation", "https://etcd.io/docs/"],
        // etcd binds the node's private IP, which exists only once the network is configured.
        ["Wants", "network-online.target"],
        ["After", "network-online.target"],
      ],
    ],
    [
      "Service",
      [
        // etcd signals READY only after it has joined a quorum, so dependants start against a
        // working cluster.
        ["Type", "notify"],
        ["ExecStart", `${ETCD_BINARY_PATH} --config-file ${ETCD_CONFIG_PATH}`],
        // The first member to boot waits for a quorum of peers that may still be downloading etcd,
        // longer than systemd's 90 s start timeout; Restart= covers a member that really hangs.
        ["TimeoutStartSec", 0],
        ["Restart", "always"],
        ["RestartSec", "5s"],
        // etcd holds one descriptor per client connection and watch stream; the 1024 default
        // is exhausted by a few API servers with many watches.
        ["LimitNOFILE", 65536],
        // Raft heartbeats must not wait behind batch work on the same node.
        ["Nice", -10],
        ["IOSchedulingClass", "best-effort"],
        ["IOSchedulingPriority", 0],
      ],
    ],
    ["Install", [["WantedBy", "multi-user.target"]]],
  ];
  const header = `# Rendered by kubeadm-ha for stack ${topology.stack}; runs the official etcd ${topology.spec.etcd.version} release binary.\n`;
  return (
    header +
    sections
      .map(([section, entries]) => [`[${section}]`, ...entries.map(([key, value]) => `${key}=${value}`)].join("\n"))
      .join("\n\n") +
    "\n"
  );
}
