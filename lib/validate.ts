/**
 * Spec validation: schema (strict, typed) plus the cross-field rules a Kubernetes engineer knows.
 * Errors read `file: field: value: what is accepted`; warnings flag legal but fragile choices.
 */
import { parseDocument } from "yaml";
import type { z } from "zod";
import { clusterSpecSchema, ClusterSpec, KUBERNETES_MINORS, LOG_RETENTION_DAYS } from "./spec";
import { Ipv4Cidr, mustParseCidr, overlaps, parseCidr, size } from "./cidr";
import { parseDuration } from "./duration";
import { AZ_SUBNET_SPLIT, dynamicHostStart, HOST_BLOCKS } from "./addressing";
import { etcdFaultTolerance, etcdQuorum } from "./quorum";
import { ARM64_INSTANCE_TYPE, BURSTABLE_INSTANCE_TYPE } from "./ec2";
import { partitionOfRegion } from "./partitions";
import { loadBalancerKind } from "./load-balancers/registry";
import type { SpecIssue, SpecWarning, WarningCategory } from "./spec-issue";
import { backupIssues, backupWarnings } from "./validate-backups";
import { INTERFACE_ENDPOINT_SERVICES } from "./vpc-endpoints";

export type { SpecIssue, SpecWarning, WarningCategory } from "./spec-issue";

export class SpecError extends Error {
  constructor(
    readonly file: string,
    readonly issues: readonly SpecIssue[],
  ) {
    super(issues.map((issue) => formatIssue(file, issue)).join("\n"));
    this.name = "SpecError";
  }
}

export function formatIssue(file: string, issue: SpecIssue): string {
  const value = issue.value === undefined ? "(missing)" : JSON.stringify(issue.value);
  return `${file}: ${issue.field || "(root)"}: ${value}: ${issue.message}`;
}

export interface ValidatedSpec {
  readonly spec: ClusterSpec;
  /** The warnings' texts, as synth prints them. */
  readonly warnings: string[];
  /** The same warnings with their field, value and category. */
  readonly specWarnings: readonly SpecWarning[];
  /** Set when strict mode was on (and so no HA warning is left). */
  readonly strict?: StrictSource;
}

/** Ranges no cluster network may use. */
const RESERVED_RANGES = [
  { what: "127.0.0.0/8 (loopback)", cidr: mustParseCidr("127.0.0.0/8") },
  { what: "169.254.0.0/16 (link-local: instance metadata, the VPC DNS resolver)", cidr: mustParseCidr("169.254.0.0/16") },
  { what: "224.0.0.0/3 (multicast and reserved)", cidr: mustParseCidr("224.0.0.0/3") },
  { what: "0.0.0.0/8", cidr: mustParseCidr("0.0.0.0/8") },
];

/** Stack names become Terraform workspace and AWS resource names. */
const STACK_NAME = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/;

/** Parses and validates one spec file's text. Throws SpecError listing every problem found. */
export function validateSpec(file: string, name: string, text: string, options: ValidateOptions = {}): ValidatedSpec {
  const issues: SpecIssue[] = [];
  if (!STACK_NAME.test(name)) {
    issues.push({
      field: "(file name)",
      value: name,
      message: "the stack name comes from the file name: 2-32 characters, lowercase letters, digits and '-', starting with a letter",
    });
  }
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    const yamlIssues = document.errors.map((e) => ({ field: "(yaml)", value: undefined, message: e.message.split("\n")[0] }));
    throw new SpecError(file, [...issues, ...yamlIssues]);
  }
  const raw: unknown = document.toJS() ?? {};
  const parsed = clusterSpecSchema.safeParse(raw);
  if (!parsed.success) {
    throw new SpecError(file, [...issues, ...parsed.error.issues.map((i) => schemaIssue(raw, i))]);
  }
  const input = parsed.data;
  const zones = input.network.availabilityZones ?? ["a", "b", "c"].map((letter) => `${input.region}${letter}`);
  const spec: ClusterSpec = {
    ...input,
    name,
    etcd: { ...input.etcd, members: input.etcd.members ?? (input.etcd.topology === "external" ? 3 : input.controlPlane.count) },
    network: { ...input.network, availabilityZones: zones },
    nodes: { ...input.nodes, cpuCredits: input.nodes.cpuCredits ?? "standard" },
  };
  const rawEtcd = valueAt(raw, ["etcd"]) as { version?: unknown; instanceType?: unknown } | undefined;
  issues.push(...crossFieldIssues(spec, input.etcd.members, { version: rawEtcd?.version, instanceType: rawEtcd?.instanceType }));
  const rawLoadBalancer = valueAt(raw, ["loadBalancer"]) as { instanceType?: unknown } | undefined;
  issues.push(...loadBalancerKind(spec.loadBalancer.kind).specIssues(spec, { instanceType: rawLoadBalancer?.instanceType }));
  const rawWorkers = valueAt(raw, ["workers"]) as { instanceType?: unknown } | undefined;
  issues.push(...autoScalingIssues(spec, rawWorkers?.instanceType !== undefined));
  issues.push(...securityIssues(spec, input.nodes.cpuCredits !== undefined));
  if (issues.length > 0) throw new SpecError(file, issues);
  const warnings = specWarnings(spec);
  const strict: StrictSource | undefined = spec.strict ? "spec" : options.strict ? "environment" : undefined;
  if (strict) {
    const refused = strictIssues(warnings, strict);
    if (refused.length > 0) throw new SpecError(file, refused);
  }
  return { spec, warnings: warnings.map((warning) => warning.message), specWarnings: warnings, strict };
}

function schemaIssue(raw: unknown, issue: z.core.$ZodIssue): SpecIssue {
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    const accepted = acceptedKeys(path);
    return {
      field: [...path, issue.keys[0]].join("."),
      value: valueAt(raw, [...path, issue.keys[0]]),
      message: `unknown field${issue.keys.length > 1 ? ` (also: ${issue.keys.slice(1).join(", ")})` : ""}; accepted here: ${accepted.join(", ")}`,
    };
  }
  const value = valueAt(raw, path);
  return { field: path.join("."), value, message: describe(issue, value) };
}

function describe(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_type":
      return value === undefined ? "required" : `expected ${issue.expected === "int" ? "a whole number" : issue.expected === "object" ? "a mapping" : `a ${issue.expected}`}`;
    case "too_small":
      return issue.origin === "array" ? `expected at least ${issue.minimum} entries` : `expected at least ${issue.minimum}`;
    case "too_big":
      return issue.origin === "array" ? `expected at most ${issue.maximum} entries` : `expected at most ${issue.maximum}`;
    default:
      return issue.message;
  }
}

function acceptedKeys(path: string[]): string[] {
  let schema: z.ZodType = clusterSpecSchema;
  for (const key of path) {
    const shape = objectShape(schema);
    if (!shape || !(key in shape)) return [];
    schema = shape[key];
  }
  return Object.keys(objectShape(schema) ?? {});
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  let current: z.ZodType = schema;
  // Unwrap defaults/prefaults/optionals to reach the object.
  for (let depth = 0; depth < 5; depth += 1) {
    const def = current._zod.def as { type: string; innerType?: z.ZodType; shape?: Record<string, z.ZodType> };
    if (def.type === "object") return def.shape;
    if (!def.innerType) return undefined;
    current = def.innerType;
  }
  return undefined;
}

function valueAt(raw: unknown, path: string[]): unknown {
  let current = raw;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function crossFieldIssues(
  spec: ClusterSpec,
  explicitEtcdMembers: number | undefined,
  explicitEtcdExternalFields: { version: unknown; instanceType: unknown },
): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const add = (field: string, value: unknown, message: string) => issues.push({ field, value, message });

  const minor = Number(spec.kubernetesVersion.split(".")[1]);
  const supported = `this blueprint supports 1.${KUBERNETES_MINORS.min} to 1.${KUBERNETES_MINORS.max}`;
  if (minor < KUBERNETES_MINORS.min) {
    add("kubernetesVersion", spec.kubernetesVersion, `kubeadm's v1beta4 configuration needs 1.${KUBERNETES_MINORS.min} or newer; ${supported}`);
  } else if (minor > KUBERNETES_MINORS.max) {
    add("kubernetesVersion", spec.kubernetesVersion,
      `1.36 and newer need containerd 2, and the nodes' Ubuntu 24.04 containerd package is 1.7; ${supported}`);
  }

  if (spec.etcd.topology === "stacked") {
    const externalOnly = { members: explicitEtcdMembers, ...explicitEtcdExternalFields };
    for (const [field, value] of Object.entries(externalOnly)) {
      if (value === undefined) continue;
      add(`etcd.${field}`, value, field === "members"
        ? "only for etcd.topology external; stacked etcd runs one member per control-plane node (set controlPlane.count)"
        : "only for etcd.topology external; stacked etcd runs on the control-plane nodes with kubeadm's etcd image");
    }
  }

  if (spec.state.backend === "s3" && !spec.state.bucket) {
    add("state.bucket", undefined, "required when state.backend is s3");
  }
  if (spec.state.backend === "local") {
    for (const field of ["bucket", "key", "region"] as const) {
      if (spec.state[field] !== undefined) add(`state.${field}`, spec.state[field], "only for state.backend s3");
    }
  }

  const cidrs: Record<string, Ipv4Cidr> = {};
  for (const field of ["vpcCidr", "podSubnet", "serviceSubnet"] as const) {
    const parsed = parseCidr(spec.network[field]);
    if (typeof parsed === "string") add(`network.${field}`, spec.network[field], parsed);
    else cidrs[field] = parsed;
  }
  const { vpcCidr, podSubnet, serviceSubnet } = cidrs;
  if (vpcCidr && (vpcCidr.prefix < 16 || vpcCidr.prefix > 22)) {
    add("network.vpcCidr", spec.network.vpcCidr, "expected a prefix from /16 (AWS's largest VPC) to /22 (room for per-zone subnets)");
  }
  if (serviceSubnet && (serviceSubnet.prefix < 12 || serviceSubnet.prefix > 28)) {
    add("network.serviceSubnet", spec.network.serviceSubnet, "expected a prefix from /12 (kube-apiserver's largest IPv4 service range) to /28");
  }
  for (const field of ["vpcCidr", "podSubnet", "serviceSubnet"] as const) {
    const range = cidrs[field];
    const reserved = range && RESERVED_RANGES.find((r) => overlaps(range, r.cidr));
    if (reserved) add(`network.${field}`, spec.network[field], `overlaps ${reserved.what}; choose a private range such as 10.0.0.0/8`);
  }
  const pairs = [["vpcCidr", "podSubnet"], ["vpcCidr", "serviceSubnet"], ["podSubnet", "serviceSubnet"]] as const;
  for (const [a, b] of pairs) {
    if (cidrs[a] && cidrs[b] && overlaps(cidrs[a], cidrs[b])) {
      add(`network.${b}`, spec.network[b], `overlaps network.${a} (${spec.network[a]}); pod, service and VPC ranges must be disjoint`);
    }
  }
  // An Auto Scaling group counts at its maximum: every instance it may run needs a pod range.
  const kubernetesNodes = spec.controlPlane.count + spec.workers.count + (spec.workers.autoScaling?.maxSize ?? 0);
  if (podSubnet) {
    // kube-controller-manager gives every node a /24 (node-cidr-mask-size) out of the pod subnet.
    const nodeCidrs = podSubnet.prefix <= 24 ? 2 ** (24 - podSubnet.prefix) : 0;
    if (nodeCidrs < kubernetesNodes) {
      add("network.podSubnet", spec.network.podSubnet,
        `too small: every node takes a /24, so ${kubernetesNodes} nodes need a /${24 - Math.ceil(Math.log2(kubernetesNodes))} or larger`);
    }
  }

  const zones = spec.network.availabilityZones;
  zones.forEach((zone, index) => {
    if (!zone.startsWith(spec.region) || zone.length !== spec.region.length + 1) {
      add(`network.availabilityZones.${index}`, zone, `expected a zone of region ${spec.region}, such as ${spec.region}a`);
    }
  });
  if (new Set(zones).size !== zones.length) add("network.availabilityZones", zones, "zones must be distinct");

  if (vpcCidr && vpcCidr.prefix >= 16 && vpcCidr.prefix <= 22) {
    const subnetSize = size({ network: 0, prefix: vpcCidr.prefix + AZ_SUBNET_SPLIT });
    const perZone = Math.ceil(spec.workers.count / zones.length);
    const room = subnetSize - 1 - HOST_BLOCKS.worker;
    if (perZone > room) {
      add("workers.count", spec.workers.count,
        `network.vpcCidr ${spec.network.vpcCidr} leaves room for ${room * zones.length} workers over ${zones.length} zones; use a larger VPC or more zones`);
    }
    const autoScaling = spec.workers.autoScaling;
    const dynamicStart = dynamicHostStart(zones.length, spec.workers.count);
    // Per zone, the addresses EC2 may assign by itself: above the range reserved for static nodes,
    // below AWS's last. The internal NLB needs 8 of them in every subnet and each interface
    // endpoint one; one zone may have to hold the whole group while others are down.
    const dynamicRoom = subnetSize - 1 - dynamicStart;
    const kind = loadBalancerKind(spec.loadBalancer.kind);
    const nlbAddresses = kind.runsOnNode ? 0 : kind.freeAddressesPerSubnet;
    const endpointAddresses = spec.network.vpcEndpoints ? INTERFACE_ENDPOINT_SERVICES.length : 0;
    const managed = nlbAddresses + endpointAddresses;
    const managedWhat = [nlbAddresses ? `${nlbAddresses} for the ${kind.displayName}` : "", endpointAddresses ? `${endpointAddresses} for the VPC endpoints` : ""]
      .filter(Boolean)
      .join(" and ");
    const groupRoom = dynamicRoom - managed;
    if (autoScaling && groupRoom < autoScaling.maxSize) {
      add("workers.autoScaling.maxSize", autoScaling.maxSize,
        groupRoom <= 0
          ? `network.vpcCidr ${spec.network.vpcCidr}: the static nodes' reserved addresses (hosts 4-${dynamicStart - 1})${managed ? ` and ${managedWhat}` : ""} fill each zone's private subnet, leaving none for the group; use a larger VPC or fewer static workers`
          : `network.vpcCidr ${spec.network.vpcCidr} leaves ${groupRoom} addresses per zone for the group (hosts ${dynamicStart}+ of each private subnet${managed ? `, less ${managedWhat}` : ""}), and one zone may have to hold all of it; use a larger VPC or at most ${groupRoom}`);
    } else if (!autoScaling && managed > 0 && dynamicRoom < managed) {
      add("workers.count", spec.workers.count,
        `network.vpcCidr ${spec.network.vpcCidr}: the static nodes' reserved addresses (hosts 4-${dynamicStart - 1} of each private subnet) leave ${Math.max(dynamicRoom, 0)} per zone, and ${managedWhat} need ${managed}; use a larger VPC or fewer static workers per zone`);
    }
  }

  if (!spec.nodes.amiId) {
    for (const [field, type] of instanceTypeFields(spec)) {
      if (ARM64_INSTANCE_TYPE.test(type)) {
        add(field, type, "an arm64 (Graviton) type, but the default Ubuntu image is amd64: pick an x86 type, or set nodes.amiId to an arm64 AMI");
      }
    }
  }

  issues.push(...backupIssues(spec));

  const durations: Record<string, number> = {};
  for (const field of ["leaseDuration", "renewDeadline", "retryPeriod"] as const) {
    const ms = parseDuration(spec.leaderElection[field]);
    if (ms === undefined || ms <= 0) add(`leaderElection.${field}`, spec.leaderElection[field], "expected a positive Go duration such as \"15s\"");
    else durations[field] = ms;
  }
  const { leaseDuration, renewDeadline, retryPeriod } = durations;
  if (leaseDuration && renewDeadline && leaseDuration <= renewDeadline) {
    add("leaderElection.renewDeadline", spec.leaderElection.renewDeadline,
      `must be shorter than leaderElection.leaseDuration (${spec.leaderElection.leaseDuration}), as client-go requires`);
  }
  if (renewDeadline && retryPeriod && renewDeadline <= 1.2 * retryPeriod) {
    add("leaderElection.retryPeriod", spec.leaderElection.retryPeriod,
      `renewDeadline (${spec.leaderElection.renewDeadline}) must exceed 1.2 x retryPeriod (client-go's jitter factor)`);
  }
  return issues;
}

/**
 * What a warning is about. "ha" warnings name a way the cluster loses availability (quorum, a single
 * point of failure, slow failover); strict mode refuses them. The others are not about failures.
 */
/** Where strict mode came from, when it is on. */
export type StrictSource = "spec" | "environment";

export interface ValidateOptions {
  /** Turn every HA warning into an error (KUBEADM_HA_STRICT=1); the spec's own `strict: true` does too. */
  readonly strict?: boolean;
}

/** KUBEADM_HA_STRICT: "1" makes every spec strict; unset, "" or "0" leaves it to each spec; else an error text. */
export function strictFromEnvironment(value: string | undefined): boolean | string {
  if (value === undefined || value === "" || value === "0") return false;
  if (value === "1") return true;
  return `KUBEADM_HA_STRICT: ${JSON.stringify(value)}: expected 1 (every HA warning is an error) or 0`;
}

/** The instance type field of every role the spec creates nodes for. */
function instanceTypeFields(spec: ClusterSpec): [string, string][] {
  return [
    ["controlPlane.instanceType", spec.controlPlane.instanceType],
    ["workers.instanceType", spec.workers.instanceType],
    ...(spec.workers.autoScaling?.instanceTypes ?? []).map((type, index) => [`workers.autoScaling.instanceTypes.${index}`, type] as [string, string]),
    // Only kinds that run on an instance have one (an nlb's instanceType is an error of its own).
    ...(loadBalancerKind(spec.loadBalancer.kind).runsOnNode ? [["loadBalancer.instanceType", spec.loadBalancer.instanceType] as [string, string]] : []),
    ...(spec.etcd.topology === "external" ? [["etcd.instanceType", spec.etcd.instanceType] as [string, string]] : []),
  ];
}

/** A key ARN (a key id, or an mrk- multi-Region key id); group 1 is the partition. */
const KMS_KEY_ARN = /^arn:(aws|aws-cn|aws-us-gov):kms:([a-z0-9-]+):(\d{12}):key\/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;

/** Partition, cost and Session Manager rules (docs/security.md). */
function securityIssues(spec: ClusterSpec, cpuCreditsGiven: boolean): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const add = (field: string, value: unknown, message: string) => issues.push({ field, value, message });

  const partition = partitionOfRegion(spec.region);
  if (!partition) {
    add("region", spec.region, "the ISO partitions are not supported (no published Ubuntu image owner, untested endpoints); use a region of the aws, aws-cn or aws-us-gov partition");
  }

  if (cpuCreditsGiven && !instanceTypeFields(spec).some(([, type]) => BURSTABLE_INSTANCE_TYPE.test(type))) {
    add("nodes.cpuCredits", spec.nodes.cpuCredits,
      `only for burstable instance types (t2, t3, t3a, t4g), and no node is one (${instanceTypeFields(spec).map(([field, type]) => `${field} ${type}`).join(", ")})`);
  }

  const { kmsKeyArn, logging } = spec.sessionManager;
  if (kmsKeyArn !== undefined) {
    const match = KMS_KEY_ARN.exec(kmsKeyArn);
    if (!match) {
      add("sessionManager.kmsKeyArn", kmsKeyArn,
        "expected a KMS key ARN such as arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab (IAM grants key use by key ARN, not by alias)");
    } else if (partition && match[1] !== partition.name) {
      add("sessionManager.kmsKeyArn", kmsKeyArn, `the key is in partition ${match[1]}, but region ${spec.region} is in ${partition.name}`);
    }
  }
  if (logging.s3KeyPrefix !== undefined && logging.s3Bucket === undefined) {
    add("sessionManager.logging.s3KeyPrefix", logging.s3KeyPrefix, "only with sessionManager.logging.s3Bucket");
  }
  issues.push(...flowLogIssues(spec));
  return issues;
}

/** network.flowLogs: each destination's own fields, CloudWatch Logs' retention values. */
function flowLogIssues(spec: ClusterSpec): SpecIssue[] {
  const flowLogs = spec.network.flowLogs;
  if (!flowLogs) return [];
  const issues: SpecIssue[] = [];
  const add = (field: string, value: unknown, message: string) => issues.push({ field: `network.flowLogs.${field}`, value, message });
  if (flowLogs.destination === "cloudWatchLogs") {
    if (flowLogs.retentionDays !== undefined && !(LOG_RETENTION_DAYS as readonly number[]).includes(flowLogs.retentionDays)) {
      add("retentionDays", flowLogs.retentionDays, `expected one of CloudWatch Logs' retention values: ${LOG_RETENTION_DAYS.join(", ")}`);
    }
    for (const field of ["s3Bucket", "s3KeyPrefix"] as const) {
      if (flowLogs[field] !== undefined) add(field, flowLogs[field], "only for network.flowLogs.destination s3");
    }
  } else {
    if (flowLogs.s3Bucket === undefined) add("s3Bucket", undefined, "required when network.flowLogs.destination is s3");
    if (flowLogs.retentionDays !== undefined) {
      add("retentionDays", flowLogs.retentionDays, "only for network.flowLogs.destination cloudWatchLogs; the bucket's own lifecycle rules decide how long S3 keeps flow logs");
    }
  }
  return issues;
}

/** Every warning a valid spec earns, with its category. Pure: the same spec always gives the same list. */
export function specWarnings(spec: ClusterSpec): SpecWarning[] {
  const warnings: SpecWarning[] = [];
  const warn = (category: WarningCategory, field: string, value: unknown, message: string) =>
    warnings.push({ category, field, value, message });
  const members = spec.etcd.members;
  const tolerated = etcdFaultTolerance(members);
  const stacked = spec.etcd.topology === "stacked";
  const where = stacked ? "stacked on the control-plane nodes" : "on dedicated etcd nodes";
  // Stacked etcd takes its member count from controlPlane.count: that is the field to change.
  const membersField = stacked ? "controlPlane.count" : "etcd.members";
  if (members % 2 === 0) {
    const lost = tolerated + 1;
    warn("ha", membersField, members,
      `etcd: ${members} members ${where} tolerate ${tolerated === 0 ? "zero" : tolerated} failure${tolerated === 1 ? "" : "s"} ` +
        `(quorum is ${etcdQuorum(members)} of ${members}; ${members - 1} member${members - 1 === 1 ? "" : "s"} would tolerate as many): ` +
        `losing ${lost === 1 ? "any one member" : `${lost} members`} stops every etcd write and the API server fails. ` +
        `Use an odd count (${members + 1}${stacked ? " control-plane nodes, or external etcd with 3 members" : " members"}).`,
    );
  } else if (members === 1) {
    warn("ha", membersField, members, `etcd: a single member ${where} tolerates zero failures: losing it stops the API server. Use 3 members.`);
  }
  if (spec.controlPlane.count === 1) {
    warn("ha", "controlPlane.count", 1,
      "controlPlane: one control-plane node is not highly available: losing it stops the API, scheduling and controllers.");
  }
  for (const warning of loadBalancerKind(spec.loadBalancer.kind).warnings(spec)) warnings.push(warning);
  const autoScaling = spec.workers.autoScaling;
  if (spec.workers.count === 0 && !autoScaling) {
    warn("workload", "workers.count", 0,
      "workers: no worker nodes: control-plane nodes keep their NoSchedule taint, so ordinary workloads will not run.");
  }
  if (autoScaling) warnings.push(...autoScalingWarnings(spec, autoScaling));
  if (spec.nodes.cpuCredits === "unlimited") {
    const burstable = instanceTypeFields(spec).filter(([, type]) => BURSTABLE_INSTANCE_TYPE.test(type)).map(([field]) => field);
    warn("cost", "nodes.cpuCredits", "unlimited",
      `nodes.cpuCredits: unlimited: burstable nodes (${burstable.join(", ")}) may run above their baseline for as long as load lasts, ` +
        "and every surplus credit is billed: a busy cluster can cost far more than its instance prices. standard throttles to the baseline instead.",
    );
  }
  warnings.push(...backupWarnings(spec));
  warnings.push(...egressWarnings(spec));
  const minor = Number(spec.kubernetesVersion.split(".")[1]);
  if (minor < KUBERNETES_MINORS.oldestUpstreamSupported) {
    warn("lifecycle", "kubernetesVersion", spec.kubernetesVersion, `kubernetesVersion: ${spec.kubernetesVersion} is past upstream end of life; plan an upgrade.`);
  }
  return warnings;
}

/**
 * One NAT gateway: every zone's traffic to the AWS APIs and the internet leaves through the first
 * zone. Without VPC endpoints, losing that zone cuts Session Manager, Parameter Store, KMS and the
 * etcd backups off for the nodes of every other zone (the API keeps serving: running nodes need
 * no egress). Interface endpoints cost per endpoint, zone and hour.
 */
function egressWarnings(spec: ClusterSpec): SpecWarning[] {
  const warnings: SpecWarning[] = [];
  const { natGateways, vpcEndpoints, availabilityZones: zones } = spec.network;
  if (natGateways === "single" && !vpcEndpoints) {
    warnings.push({
      category: "ha",
      field: "network.natGateways",
      value: "single",
      message:
        `network: one NAT gateway, in ${zones[0]}, and no VPC endpoints: losing that zone cuts the nodes of every other zone off from ` +
        "Session Manager, Parameter Store, KMS and S3 (etcd backups), and new nodes cannot install packages until it returns; " +
        "running nodes keep serving. Set natGateways: perZone (all egress), or vpcEndpoints: true (the AWS APIs).",
    });
  }
  if (vpcEndpoints) {
    const count = INTERFACE_ENDPOINT_SERVICES.length;
    warnings.push({
      category: "cost",
      field: "network.vpcEndpoints",
      value: true,
      message:
        `network.vpcEndpoints: ${count} interface endpoints in ${zones.length} zones are ${count * zones.length} billed endpoint-zone-hours ` +
        "every hour plus a charge per GB (about 0.01 USD per endpoint-zone-hour in most regions, " +
        `some ${Math.round(count * zones.length * 0.01 * 730)} USD a month here); the S3 gateway endpoint is free. See the region's AWS PrivateLink pricing.`,
    });
  }
  return warnings;
}

/** Strict mode: each HA warning as an error in the usual `file: field: value: reason` form. */
function strictIssues(warnings: readonly SpecWarning[], source: StrictSource): SpecIssue[] {
  const why = source === "spec" ? "strict: true" : "KUBEADM_HA_STRICT=1";
  return warnings
    .filter((warning) => warning.category === "ha")
    .map(({ field, value, message }) => ({ field, value, message: `HA warning refused by strict mode (${why}): ${message}` }));
}

type AutoScalingSpec = NonNullable<ClusterSpec["workers"]["autoScaling"]>;

/**
 * workers.autoScaling's rules. Static workers (workers.count) may run beside the group (say, a few
 * fixed nodes for stateful workloads): both are ordinary workers. workers.instanceType is the
 * group's type unless instanceTypes lists them; giving both with no static worker is an error, as
 * one of them would do nothing.
 */
function autoScalingIssues(spec: ClusterSpec, instanceTypeGiven: boolean): SpecIssue[] {
  const autoScaling = spec.workers.autoScaling;
  if (!autoScaling) return [];
  const issues: SpecIssue[] = [];
  const add = (field: string, value: unknown, message: string) => issues.push({ field, value, message });
  const { minSize, maxSize, desiredCapacity, instanceTypes, spot } = autoScaling;
  if (minSize > maxSize) add("workers.autoScaling.minSize", minSize, `must be at most workers.autoScaling.maxSize (${maxSize})`);
  if (desiredCapacity !== undefined && (desiredCapacity < minSize || desiredCapacity > maxSize)) {
    add("workers.autoScaling.desiredCapacity", desiredCapacity, `must be from workers.autoScaling.minSize (${minSize}) to maxSize (${maxSize})`);
  }
  if (spot && !instanceTypes) {
    add("workers.autoScaling.instanceTypes", undefined,
      "required with workers.autoScaling.spot: list the instance types Spot may choose from (several similar sizes, e.g. [m6i.large, m5.large, m6a.large]: each type in each zone is its own Spot pool)");
  }
  if (instanceTypes) {
    const seen = new Set<string>();
    instanceTypes.forEach((type, index) => {
      if (seen.has(type)) add(`workers.autoScaling.instanceTypes.${index}`, type, "listed twice");
      seen.add(type);
    });
    // The launch template names one image; arm64 and x86 types cannot share it.
    const arm = instanceTypes.filter((type) => ARM64_INSTANCE_TYPE.test(type));
    if (arm.length > 0 && arm.length < instanceTypes.length) {
      add("workers.autoScaling.instanceTypes", instanceTypes, "mixes arm64 (Graviton) and x86 types, but every instance boots the same image: list types of one architecture");
    }
    if (instanceTypeGiven && spec.workers.count === 0) {
      add("workers.instanceType", spec.workers.instanceType,
        "unused: there are no static workers (workers.count 0) and workers.autoScaling.instanceTypes names the group's types; remove one of the two");
    }
  }
  if (spot && spot.onDemandBaseCapacity > maxSize) {
    add("workers.autoScaling.spot.onDemandBaseCapacity", spot.onDemandBaseCapacity, `must be at most workers.autoScaling.maxSize (${maxSize})`);
  }
  return issues;
}

/** Risky but legal Auto Scaling choices. */
function autoScalingWarnings(spec: ClusterSpec, autoScaling: AutoScalingSpec): SpecWarning[] {
  const warnings: SpecWarning[] = [];
  const warn = (category: WarningCategory, field: string, value: unknown, message: string) => warnings.push({ category, field, value, message });
  const staticWorkers = spec.workers.count;
  if (autoScaling.minSize + staticWorkers === 0) {
    warn("workload", "workers.autoScaling.minSize", 0,
      "workers: the Auto Scaling group may scale to zero and there are no static workers: ordinary workloads then have nowhere to run (control-plane nodes keep their NoSchedule taint).");
  } else if (autoScaling.minSize + staticWorkers === 1) {
    warn("ha", "workers.autoScaling.minSize", autoScaling.minSize,
      "workers: at the group's minimum there is one worker: losing it leaves pods nowhere to run until the group has launched and joined a replacement (minutes). Use minSize 2 or more.");
  }
  const spot = autoScaling.spot;
  if (spot) {
    if (spot.onDemandBaseCapacity === 0 && spot.onDemandPercentageAboveBaseCapacity === 0 && staticWorkers === 0) {
      warn("ha", "workers.autoScaling.spot", spot,
        "workers: every worker is Spot: EC2 may reclaim instances with two minutes' notice, several at once when a pool runs short, and nothing drains them first. Keep some On-Demand capacity (spot.onDemandBaseCapacity 2 or more) or static workers.");
    }
    if ((autoScaling.instanceTypes ?? []).length === 1) {
      warn("ha", "workers.autoScaling.instanceTypes", autoScaling.instanceTypes,
        "workers: Spot with one instance type has one Spot pool per zone: a shortage of it reclaims the group's instances together and none can replace them. List several similar types.");
    }
  }
  return warnings;
}
