/**
 * VPC flow logs (`network.flowLogs`, opt-in). To CloudWatch Logs: a log group the stack creates,
 * encrypted with a KMS key of its own (only CloudWatch Logs may use it, and only for this log
 * group), with the spec's retention, written by an IAM role that VPC Flow Logs of this account
 * alone may assume and that may write only to this log group. To S3: an existing bucket of the
 * operator's (its bucket policy must admit log delivery; see docs/security.md); no role is needed.
 */
import { Construct } from "constructs";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { FlowLog } from "@cdktf/provider-aws/lib/flow-log";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { LOG_RETENTION_DAYS } from "../spec";
import type { Topology } from "../topology";
import { accountAdministersKey } from "./node-iam";
import { flowLogGroupName, flowLogKmsAlias, flowLogRetentionDays, flowLogRoleName } from "../flow-logs";

export interface VpcFlowLogsProps {
  /** Stack, region and `spec.network.flowLogs` (required). */
  readonly topology: Topology;
  readonly vpcId: string;
  /** `aws_caller_identity.account_id`, `aws_partition.partition` and `.dns_suffix` (tokens). */
  readonly accountId: string;
  readonly partition: string;
  readonly dnsSuffix: string;
}

export class VpcFlowLogs extends Construct {
  public readonly flowLog: FlowLog;
  /** cloudWatchLogs only. */
  public readonly logGroup?: CloudwatchLogGroup;
  public readonly kmsKey?: KmsKey;
  public readonly kmsAlias?: KmsAlias;
  public readonly role?: IamRole;

  constructor(scope: Construct, id: string, props: VpcFlowLogsProps) {
    super(scope, id);
    const { topology, partition, accountId } = props;
    const { stack, spec } = topology;
    const settings = spec.network.flowLogs;
    if (!settings) throw new Error(`${this.node.path}: spec.network.flowLogs is not set`);
    const region = spec.region;

    if (settings.destination === "s3") {
      if (!settings.s3Bucket) throw new Error(`${this.node.path}: network.flowLogs.s3Bucket is required with destination s3`);
      const prefix = settings.s3KeyPrefix ? `/${settings.s3KeyPrefix}` : "";
      this.flowLog = new FlowLog(this, "flow-log", {
        vpcId: props.vpcId,
        trafficType: settings.trafficType,
        logDestinationType: "s3",
        logDestination: `arn:${partition}:s3:::${settings.s3Bucket}${prefix}`,
        tags: { Name: `${stack}-vpc-flow-logs` },
      });
      return;
    }

    const retention = flowLogRetentionDays(settings);
    if (!(LOG_RETENTION_DAYS as readonly number[]).includes(retention)) {
      throw new Error(`${this.node.path}: network.flowLogs.retentionDays: ${retention}: expected one of ${LOG_RETENTION_DAYS.join(", ")}`);
    }
    const groupName = flowLogGroupName(stack);
    const groupArn = `arn:${partition}:logs:${region}:${accountId}:log-group:${groupName}`;

    const keyPolicy = new DataAwsIamPolicyDocument(this, "key-policy", {
      statement: [
        accountAdministersKey(partition, accountId),
        {
          // CloudWatch Logs encrypts and decrypts the log group's records; the encryption context
          // names the log group, so the key serves no other.
          sid: "CloudWatchLogsUsesKeyForThisLogGroup",
          effect: "Allow",
          principals: [{ type: "Service", identifiers: [`logs.${region}.${props.dnsSuffix}`] }],
          actions: ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
          resources: ["*"],
          condition: [{ test: "ArnEquals", variable: "kms:EncryptionContext:aws:logs:arn", values: [groupArn] }],
        },
      ],
    });
    this.kmsKey = new KmsKey(this, "key", {
      description: `kubeadm-ha ${stack}: VPC flow logs`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
      policy: keyPolicy.json,
      tags: { Name: `${stack}-vpc-flow-logs` },
    });
    this.kmsAlias = new KmsAlias(this, "alias", { name: flowLogKmsAlias(stack), targetKeyId: this.kmsKey.keyId });
    this.logGroup = new CloudwatchLogGroup(this, "log-group", {
      name: groupName,
      retentionInDays: retention,
      kmsKeyId: this.kmsKey.arn,
      tags: { Name: `${stack}-vpc-flow-logs` },
    });

    const trust = new DataAwsIamPolicyDocument(this, "assume-role", {
      statement: [
        {
          effect: "Allow",
          principals: [{ type: "Service", identifiers: ["vpc-flow-logs.amazonaws.com"] }],
          actions: ["sts:AssumeRole"],
          // Confused deputy: only flow logs of this account and region.
          condition: [
            { test: "StringEquals", variable: "aws:SourceAccount", values: [accountId] },
            { test: "ArnLike", variable: "aws:SourceArn", values: [`arn:${partition}:ec2:${region}:${accountId}:vpc-flow-log/*`] },
          ],
        },
      ],
    });
    this.role = new IamRole(this, "role", {
      name: flowLogRoleName(stack, region),
      description: `kubeadm-ha ${stack}: VPC flow logs writing to ${groupName}`,
      assumeRolePolicy: trust.json,
      tags: { Name: `${stack}-vpc-flow-logs` },
    });
    const write = new DataAwsIamPolicyDocument(this, "write-policy", {
      statement: [
        {
          sid: "WriteThisLogGroup",
          effect: "Allow",
          actions: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
          resources: [groupArn, `${groupArn}:*`],
        },
        {
          // A list action: it names no single log group.
          sid: "DescribeLogGroups",
          effect: "Allow",
          actions: ["logs:DescribeLogGroups"],
          resources: [`arn:${partition}:logs:${region}:${accountId}:log-group:*`],
        },
      ],
    });
    const policy = new IamRolePolicy(this, "write", { name: "kubeadm-ha-vpc-flow-logs", role: this.role.name, policy: write.json });
    this.flowLog = new FlowLog(this, "flow-log", {
      vpcId: props.vpcId,
      trafficType: settings.trafficType,
      logDestinationType: "cloud-watch-logs",
      logDestination: this.logGroup.arn,
      iamRoleArn: this.role.arn,
      tags: { Name: `${stack}-vpc-flow-logs` },
      // The role must be allowed to write before the first delivery.
      dependsOn: [policy],
    });
  }
}
