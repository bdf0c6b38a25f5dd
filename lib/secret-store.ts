/**
 * Where bootstrap secrets live: SSM Parameter Store SecureStrings, created at boot by the nodes
 * themselves (Terraform never sees a secret, so the state holds none), each encrypted with the
 * KMS key of the audience allowed to read it.
 *
 * Access is enforced twice: IAM confines each node role to its audiences' parameter paths, and
 * each KMS key lets only its readers decrypt. The nodes do not get AmazonSSMManagedInstanceCore
 * (whose ssm:GetParameter on * would undo the first), and even where such a policy is attached a
 * worker could fetch a control-plane ciphertext but not decrypt it.
 */

import type { NodeRole } from "./roles";

/** Below the control-plane audience's prefix: the shared PKI files, one parameter per file. */
export const CONTROL_PLANE_PKI_SUBPATH = "pki";

/**
 * The API servers' etcd client material (paths below /etc/kubernetes/pki), which the first
 * external etcd member issues and publishes for the control-plane nodes.
 */
export const ETCD_CLIENT_PKI_FILES = ["etcd/ca.crt", "apiserver-etcd-client.crt", "apiserver-etcd-client.key"] as const;

/** Who may decrypt a parameter. */
export type SecretAudience = "join" | "control-plane" | "etcd";

export interface SecretKeySpec {
  readonly audience: SecretAudience;
  readonly description: string;
  /** Roles that may decrypt. */
  readonly readers: readonly NodeRole[];
  /** Roles that may encrypt (publish). */
  readonly writers: readonly NodeRole[];
  /**
   * Writers confined to some parameters of the audience (paths below its prefix); they may read
   * back only those. Writers not listed here may write the whole audience.
   */
  readonly confinedWriters?: Partial<Record<NodeRole, readonly string[]>>;
}

export const SECRET_KEYS: readonly SecretKeySpec[] = [
  {
    audience: "join",
    description: "bootstrap token and discovery data for joining nodes",
    readers: ["control-plane", "worker"],
    writers: ["control-plane"],
  },
  {
    audience: "control-plane",
    description: "cluster CA keys and shared control-plane certificates",
    readers: ["control-plane"],
    writers: ["control-plane", "etcd"],
    // The first etcd node publishes the API servers' etcd client certificate and the etcd CA
    // certificate, and nothing else: it must not be able to replace the cluster CA or admin.conf.
    confinedWriters: { etcd: ETCD_CLIENT_PKI_FILES.map((file) => `${CONTROL_PLANE_PKI_SUBPATH}/${file}`) },
  },
  {
    audience: "etcd",
    description: "etcd CA key (external etcd)",
    readers: ["etcd"],
    writers: ["etcd"],
  },
];

/** Parameter path prefix of a stack's audience, e.g. /kubeadm-ha/five-server/join. */
export function parameterPrefix(stack: string, audience: SecretAudience): string {
  return `/kubeadm-ha/${stack}/${audience}`;
}

/** KMS alias of a stack's audience key; aliases are known at synth time, key ids are not. */
export function kmsAlias(stack: string, audience: SecretAudience): string {
  return `alias/kubeadm-ha/${stack}/${audience}`;
}
