/**
 * Where bootstrap secrets live: SSM Parameter Store SecureStrings, created at boot by the nodes
 * themselves (Terraform never sees a secret, so the state holds none), each encrypted with the
 * KMS key of the audience allowed to read it.
 *
 * AmazonSSMManagedInstanceCore lets every instance call ssm:GetParameter on any parameter, so
 * access is enforced by KMS: a worker can fetch a control-plane ciphertext but cannot decrypt it.
 */

/** Who may decrypt a parameter. */
export type SecretAudience = "join" | "control-plane" | "etcd";

export interface SecretKeySpec {
  readonly audience: SecretAudience;
  readonly description: string;
  /** Roles that may decrypt. */
  readonly readers: readonly ("control-plane" | "worker" | "etcd")[];
  /** Roles that may encrypt (publish). */
  readonly writers: readonly ("control-plane" | "worker" | "etcd")[];
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
