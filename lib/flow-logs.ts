/** VPC flow logs (`network.flowLogs`): the names the construct, the review and the docs share. Pure. */
import { type ClusterSpec, DEFAULT_FLOW_LOG_RETENTION_DAYS } from "./spec";

/** Days the CloudWatch Logs group keeps flow-log records (the spec's value or the default). */
export function flowLogRetentionDays(flowLogs: NonNullable<ClusterSpec["network"]["flowLogs"]>): number {
  return flowLogs.retentionDays ?? DEFAULT_FLOW_LOG_RETENTION_DAYS;
}

/** The log group of a stack's flow logs (destination cloudWatchLogs). */
export function flowLogGroupName(stack: string): string {
  return `/kubeadm-ha/${stack}/vpc-flow-logs`;
}

/** The flow-log key's alias (policies.json lists key policies by alias). */
export function flowLogKmsAlias(stack: string): string {
  return `alias/kubeadm-ha/${stack}/vpc-flow-logs`;
}

/** The flow logs' IAM role: global to the account, so the region is part of the name (as for the node roles). */
export function flowLogRoleName(stack: string, region: string): string {
  return `${stack}-${region}-vpc-flow-logs`;
}
