/**
 * AWS partitions the blueprint supports, found from the spec's region at synth time. The ARNs in
 * the stacks still take the partition from Terraform's aws_partition data source; this table adds
 * what no data source gives: who publishes the Ubuntu images there.
 */

export type PartitionName = "aws" | "aws-cn" | "aws-us-gov";

export interface PartitionFacts {
  readonly name: PartitionName;
  /** Canonical's image-publishing account in the partition (Ubuntu's cloud documentation, "Ownership verification"). */
  readonly canonicalOwnerId: string;
}

export const PARTITIONS: Readonly<Record<PartitionName, PartitionFacts>> = {
  aws: { name: "aws", canonicalOwnerId: "099720109477" },
  "aws-cn": { name: "aws-cn", canonicalOwnerId: "837727238323" },
  "aws-us-gov": { name: "aws-us-gov", canonicalOwnerId: "513442679011" },
};

/** The partition of a region, or undefined for one the blueprint does not support (the ISO partitions). */
export function partitionOfRegion(region: string): PartitionFacts | undefined {
  if (/^[a-z]{2}-iso[a-z]?-/.test(region)) return undefined;
  if (region.startsWith("cn-")) return PARTITIONS["aws-cn"];
  if (region.startsWith("us-gov-")) return PARTITIONS["aws-us-gov"];
  return PARTITIONS.aws;
}
