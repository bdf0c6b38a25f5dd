/**
 * Day 2: what happens when a spec field changes on a running cluster. Every field of the spec
 * schema has exactly one class (the compiler checks the table against the spec's type, a test
 * checks it against the zod schema itself):
 * - `in-place`: `terraform apply` makes the change safely; no etcd member is stopped.
 * - `rotation`: running nodes keep what they booted with (cloud-init runs once, and the instances
 *   ignore user_data, ami and instance_type changes); the change reaches them only through
 *   `npm run rotate` (one node at a time) or `npm run upgrade`. The plan shows such nodes as out of
 *   date (lib/constructs/day2-guards.ts), and `npm run outdated` lists them.
 * - `immutable`: fixed at creation; a changed value fails the plan with an error naming
 *   `terraform_data.immutable_<field>`. Changing it means a new cluster.
 */
import type { ClusterSpec } from "../spec";

export type ChangeClass = "in-place" | "rotation" | "immutable";

export interface FieldChange {
  readonly class: ChangeClass;
  /** What a change does, or how to make it: one sentence for the docs and the command output. */
  readonly how: string;
}

type Leaf = string | number | boolean | readonly unknown[];
/**
 * Every field path of the validated spec, e.g. "network.vpcCidr". Objects with fixed keys are
 * walked; lists and free-form maps (tags) are one field each.
 */
export type SpecFieldPath<T = Omit<ClusterSpec, "name">, Prefix extends string = ""> = {
  [K in keyof T & string]-?: NonNullable<T[K]> extends Leaf
    ? `${Prefix}${K}`
    : string extends keyof NonNullable<T[K]>
      ? `${Prefix}${K}`
      : SpecFieldPath<NonNullable<T[K]>, `${Prefix}${K}.`>;
}[keyof T & string];

const ROTATE = "reaches running nodes through `npm run rotate -- <stack>` (one node at a time); new nodes get it at boot";

export const CHANGE_CLASSES: Readonly<Record<SpecFieldPath, FieldChange>> = {
  kubernetesVersion: {
    class: "rotation",
    how: "`npm run upgrade -- <stack> --to <version>` upgrades the running cluster with kubeadm, one minor at a time; new nodes install it",
  },
  region: { class: "immutable", how: "every resource lives in the region; a new region is a new cluster" },
  "controlPlane.count": {
    class: "rotation",
    how: "`npm run rotate -- <stack>` adds or removes one control-plane node (and stacked etcd member) at a time, the member before the instance; a plain apply is refused by terraform_data.membership_controlPlane_count",
  },
  "controlPlane.instanceType": { class: "rotation", how: ROTATE },
  "workers.count": { class: "in-place", how: "Terraform adds or removes workers (drain a worker before removing it)" },
  "workers.instanceType": { class: "rotation", how: `${ROTATE} (an in-place change would stop every worker at once)` },
  "workers.autoScaling.minSize": {
    class: "in-place",
    how: "Terraform updates the Auto Scaling group's bounds; raising it launches instances, and the group terminates instances itself when desired capacity falls (undrained)",
  },
  "workers.autoScaling.maxSize": { class: "in-place", how: "as workers.autoScaling.minSize" },
  "workers.autoScaling.desiredCapacity": {
    class: "in-place",
    how: "used when the group is created only: later applies ignore it (lifecycle ignore_changes) so they never undo what scaled the group; set it with `aws autoscaling set-desired-capacity`",
  },
  "workers.autoScaling.instanceTypes": {
    class: "in-place",
    how: "Terraform updates the group's instance types in place; they apply to instances launched afterwards, running ones keep theirs until an instance refresh replaces them",
  },
  "workers.autoScaling.spot.onDemandBaseCapacity": { class: "in-place", how: "as workers.autoScaling.instanceTypes" },
  "workers.autoScaling.spot.onDemandPercentageAboveBaseCapacity": { class: "in-place", how: "as workers.autoScaling.instanceTypes" },
  "etcd.topology": { class: "immutable", how: "moving etcd between stacked and external needs a restore into a new cluster" },
  "etcd.members": {
    class: "rotation",
    how: "`npm run rotate -- <stack>` adds members one learner at a time (joining as existing) or removes one member before its instance; a plain apply is refused by terraform_data.membership_etcd_members",
  },
  "etcd.instanceType": { class: "rotation", how: ROTATE },
  "etcd.version": { class: "rotation", how: `${ROTATE}: a replaced member runs the new release (move one minor at a time)` },
  "loadBalancer.kind": {
    class: "in-place",
    how: "between node kinds (haproxy, nginx) Terraform replaces the load balancer node (stateless): the API endpoint is down until it has booted; to or from nlb the endpoint every certificate and kubeconfig names changes, which terraform_data.immutable_controlPlaneEndpoint refuses",
  },
  "loadBalancer.publicAccessCidrs": { class: "in-place", how: "Terraform updates the load balancer's security group rules" },
  "loadBalancer.instanceType": {
    class: "in-place",
    how: "Terraform stops and starts the load balancer node: the API endpoint is down meanwhile",
  },
  "network.vpcCidr": { class: "immutable", how: "every node address derives from it" },
  "network.podSubnet": { class: "immutable", how: "the CNI and every node's pod range were allocated from it" },
  "network.serviceSubnet": { class: "immutable", how: "Service IPs and the API server certificate (10.96.0.1) come from it" },
  "network.availabilityZones": { class: "immutable", how: "zones (and their order) place every node and subnet" },
  "network.natGateways": { class: "in-place", how: "Terraform adds or removes NAT gateways and routes; egress pauses briefly" },
  "network.vpcEndpoints": {
    class: "in-place",
    how: "Terraform adds or removes the endpoints; while an interface endpoint's private DNS name changes, AWS API calls from nodes fail for a moment and the callers retry",
  },
  "network.flowLogs.destination": { class: "in-place", how: "Terraform replaces the flow log (and creates or deletes the log group, its key and role); no node is touched" },
  "network.flowLogs.trafficType": { class: "in-place", how: "Terraform replaces the flow log; no node is touched" },
  "network.flowLogs.retentionDays": { class: "in-place", how: "Terraform updates the log group's retention" },
  "network.flowLogs.s3Bucket": { class: "in-place", how: "as network.flowLogs.trafficType" },
  "network.flowLogs.s3KeyPrefix": { class: "in-place", how: "as network.flowLogs.trafficType" },
  "leaderElection.leaseDuration": {
    class: "rotation",
    how: "`npm run upgrade -- <stack> --to <running version>` writes the kubeadm-config ConfigMap and regenerates the controller-manager and scheduler manifests, one node at a time",
  },
  "leaderElection.renewDeadline": { class: "rotation", how: "as leaderElection.leaseDuration" },
  "leaderElection.retryPeriod": { class: "rotation", how: "as leaderElection.leaseDuration" },
  "cni.plugin": { class: "immutable", how: "switching the pod network under running pods breaks every pod's networking" },
  "nodes.amiId": { class: "rotation", how: ROTATE },
  "nodes.rootVolumeGiB": { class: "rotation", how: ROTATE },
  "nodes.cpuCredits": { class: "in-place", how: "Terraform changes the credit specification of burstable nodes without stopping them" },
  "nodes.detailedMonitoring": { class: "in-place", how: "Terraform switches EC2 detailed monitoring on or off without stopping the nodes" },
  "sessionManager.kmsKeyArn": { class: "in-place", how: "Terraform updates the node roles' policies" },
  "sessionManager.logging.s3Bucket": { class: "in-place", how: "as sessionManager.kmsKeyArn" },
  "sessionManager.logging.s3KeyPrefix": { class: "in-place", how: "as sessionManager.kmsKeyArn" },
  "sessionManager.logging.cloudWatchLogGroup": { class: "in-place", how: "as sessionManager.kmsKeyArn" },
  "state.backend": { class: "in-place", how: "no cloud resource changes: run `terraform init -migrate-state` in the stack folder" },
  "state.bucket": { class: "in-place", how: "as state.backend" },
  "state.key": { class: "in-place", how: "as state.backend" },
  "state.region": { class: "in-place", how: "as state.backend" },
  tags: { class: "in-place", how: "Terraform updates tags in place" },
  "backups.enabled": { class: "rotation", how: "Terraform creates or keeps the bucket in place; the snapshot timer on running etcd holders changes through rotation" },
  "backups.schedule": { class: "rotation", how: `${ROTATE} (the timer is a file on the etcd holders)` },
  "backups.maxAge": { class: "rotation", how: "as backups.schedule" },
  "backups.retentionDays": { class: "in-place", how: "Terraform updates the bucket's lifecycle rule" },
  strict: { class: "in-place", how: "synth only: with true, synth refuses the spec while an HA warning stands; no resource changes" },
};

/** Field paths in table order. */
export const SPEC_FIELDS = Object.keys(CHANGE_CLASSES) as SpecFieldPath[];

export function fieldsOfClass(changeClass: ChangeClass): SpecFieldPath[] {
  return SPEC_FIELDS.filter((field) => CHANGE_CLASSES[field].class === changeClass);
}

/** The value of a field in a validated spec (resolved defaults included). */
export function fieldValue(spec: ClusterSpec, field: SpecFieldPath): unknown {
  let value: unknown = spec;
  for (const part of field.split(".")) value = (value as Record<string, unknown> | undefined)?.[part];
  return value;
}

/** The Terraform resource name that holds an immutable field, e.g. immutable_network_vpcCidr. */
export function immutableGuardName(field: SpecFieldPath): string {
  return `immutable_${field.replace(/\./g, "_")}`;
}

/** Fields that differ between two validated specs, classified, in table order. */
export function classifyChanges(before: ClusterSpec, after: ClusterSpec): { field: SpecFieldPath; change: FieldChange }[] {
  return SPEC_FIELDS.filter((field) => JSON.stringify(fieldValue(before, field)) !== JSON.stringify(fieldValue(after, field))).map(
    (field) => ({ field, change: CHANGE_CLASSES[field] }),
  );
}
