/** EC2 facts that both the spec validation and the constructs rely on. */
import { gzipSync } from "zlib";

/** EC2 rejects user data above 16 KB (before base64). */
export const EC2_USER_DATA_LIMIT_BYTES = 16384;

/** Graviton families (t4g, m7g, c6gn, ...): arm64 only, while the default Ubuntu image is amd64. */
export const ARM64_INSTANCE_TYPE = /^[a-z]+\d+g[a-z]*\./;

/**
 * Burstable families with a CPU credit specification. t2 launches "standard" by default, t3,
 * t3a and t4g "unlimited" (surplus credits billed under sustained load). t1 has no credit option.
 */
export const BURSTABLE_INSTANCE_TYPE = /^t(2|3|3a|4g)\./;

export type CpuCredits = "standard" | "unlimited";

/**
 * Previous-generation families that are not EBS-optimized by default: there, optimization is an
 * option billed by the hour on some sizes (m1.large, c3.xlarge, ...) and unavailable on others
 * (t1, t2, m1.small, c3.large, ...). Every other family, including all current ones (t3, t3a,
 * t4g, m5, c6i, m7g, ...) and the older m4, c4 and d2, is EBS-optimized by default at no charge.
 */
const NOT_EBS_OPTIMIZED_BY_DEFAULT = new Set(["t1", "t2", "m1", "m2", "m3", "c1", "c3", "cc2", "cr1", "g2", "hi1", "hs1", "i2", "r3"]);

export function ebsOptimizedByDefault(instanceType: string): boolean {
  return !NOT_EBS_OPTIMIZED_BY_DEFAULT.has(instanceType.split(".")[0]);
}

/** What an instance or launch template of a node sets (undefined: leave the attribute out). */
export interface InstanceLaunchOptions {
  /**
   * true where the type is EBS-optimized by default, so scanners and reviewers see it stated;
   * never set where it would add an hourly fee or where EC2 rejects it.
   */
  readonly ebsOptimized?: true;
  /** Only for burstable types; EC2 rejects a credit specification for any other. */
  readonly cpuCredits?: CpuCredits;
  /** Detailed (1-minute) monitoring, stated either way. */
  readonly monitoring: boolean;
}

/**
 * The launch options every node of a type gets, for aws_instance and aws_launch_template alike
 * (a launch template's ebs_optimized is the string "true", its monitoring a block).
 */
export function instanceLaunchOptions(
  instanceType: string,
  nodes: { readonly cpuCredits: CpuCredits; readonly detailedMonitoring: boolean },
): InstanceLaunchOptions {
  return {
    ...(ebsOptimizedByDefault(instanceType) ? { ebsOptimized: true as const } : {}),
    ...(BURSTABLE_INSTANCE_TYPE.test(instanceType) ? { cpuCredits: nodes.cpuCredits } : {}),
    monitoring: nodes.detailedMonitoring,
  };
}

/**
 * What EC2 receives for a user-data document: the text itself (`user_data`) while it fits, else its
 * gzip, base64-encoded (`user_data_base64`): cloud-init recognises gzip-compressed user-data and
 * decompresses it before reading the #cloud-config inside. Throws when even the gzip is too large.
 */
export function ec2UserData(name: string, text: string): { readonly userData: string } | { readonly userDataBase64: string } {
  if (Buffer.byteLength(text, "utf8") < EC2_USER_DATA_LIMIT_BYTES) return { userData: text };
  const gzipped = gzipSync(text, { level: 9 });
  if (gzipped.length >= EC2_USER_DATA_LIMIT_BYTES) {
    throw new Error(`user-data: ${name} is ${gzipped.length} bytes even gzip-compressed; EC2 accepts less than ${EC2_USER_DATA_LIMIT_BYTES}`);
  }
  return { userDataBase64: gzipped.toString("base64") };
}
