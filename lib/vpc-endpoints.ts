/**
 * VPC endpoints (`network.vpcEndpoints`): which AWS services the nodes call, and their endpoint
 * service names per region. Pure data, for the network construct, the review and validation.
 *
 * What the nodes call (templates/): Session Manager (the SSM agent: ssm, ssmmessages, ec2messages),
 * Parameter Store (ssm) with SecureStrings under KMS (kms), `aws sts get-caller-identity` in the etcd
 * backup (sts), snapshots to S3 (s3). No boot script calls the EC2 API (only the operator's
 * get-kubeconfig.sh does, from the operator's machine), so there is no ec2 endpoint.
 */
import { partitionOfRegion } from "./partitions";

/** Interface endpoints, one per zone each, in the private subnets. */
export const INTERFACE_ENDPOINT_SERVICES = ["ssm", "ssmmessages", "ec2messages", "kms", "sts"] as const;
export type InterfaceEndpointService = (typeof INTERFACE_ENDPOINT_SERVICES)[number];

/** Why each endpoint is there, for the review and the docs. */
export const ENDPOINT_PURPOSE: Readonly<Record<InterfaceEndpointService | "s3", string>> = {
  ssm: "Parameter Store (join material, PKI) and the SSM agent's registration",
  ssmmessages: "Session Manager sessions and port forwarding",
  ec2messages: "the SSM agent's Run Command channel (upgrades, restores)",
  kms: "SecureString encryption of the published secrets",
  sts: "the etcd backup's aws sts get-caller-identity",
  s3: "etcd snapshots to the backup bucket (gateway endpoint on the private route tables)",
};

/**
 * In the China regions some services' endpoint service names start with `cn.com.amazonaws`; of the
 * ones used here only sts (and s3's interface endpoint, which is not used: the gateway endpoint is
 * `com.amazonaws.<region>.s3` there too). Taken from the AWS CDK's table of exceptions
 * (aws-ec2 InterfaceVpcEndpointAwsService, from `aws ec2 describe-vpc-endpoint-services` in
 * cn-north-1 and cn-northwest-1).
 */
const CHINA_PREFIXED: ReadonlySet<string> = new Set(["sts"]);

/** The endpoint service name, e.g. `com.amazonaws.eu-west-1.ssm`. */
export function endpointServiceName(region: string, service: InterfaceEndpointService | "s3"): string {
  const china = partitionOfRegion(region)?.name === "aws-cn";
  const prefix = china && CHINA_PREFIXED.has(service) ? "cn.com.amazonaws" : "com.amazonaws";
  return `${prefix}.${region}.${service}`;
}
