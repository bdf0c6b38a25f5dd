/**
 * The cluster spec: one YAML file per stack (clusters/<name>.yaml).
 * Field paths are a public contract; every field has a documented default.
 * Strict objects make unknown keys (typos) an error.
 */
import { z } from "zod";
import { LOAD_BALANCER_KINDS } from "./load-balancers/registry";

export const DEFAULT_KUBERNETES_VERSION = "1.35.0";
export const DEFAULT_ETCD_VERSION = "3.6.4";
/**
 * kubeadm's v1beta4 config API exists from 1.31. 1.35 is the newest minor the nodes can run:
 * Kubernetes 1.36 drops containerd 1.x, and Ubuntu 24.04's containerd package is 1.7.
 */
export const KUBERNETES_MINORS = { min: 31, max: 35, oldestUpstreamSupported: 34 } as const;

const instanceType = z
  .string()
  .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "expected an EC2 instance type such as t3.medium");

/** Where VPC flow logs go. */
export const FLOW_LOG_DESTINATIONS = ["cloudWatchLogs", "s3"] as const;
/** The retention values CloudWatch Logs accepts (PutRetentionPolicy). */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;
export const DEFAULT_FLOW_LOG_RETENTION_DAYS = 90;

const duration = z
  .string()
  .regex(/^(?:\d+(?:\.\d+)?(?:h|ms|m|s))+$/, 'expected a Go duration such as "15s" or "1m30s"');

export const clusterSpecSchema = z
  .strictObject({
    kubernetesVersion: z
      .string()
      .regex(/^1\.\d+\.\d+$/, 'expected a full Kubernetes release "1.MINOR.PATCH", such as "1.35.0"')
      .default(DEFAULT_KUBERNETES_VERSION)
      .describe("Kubernetes release installed on every node (kubelet, kubeadm, kubectl) and passed to kubeadm."),
    region: z
      .string()
      .regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/, "expected an AWS region such as eu-west-1")
      .default("eu-west-1")
      .describe("AWS region of the stack."),
    controlPlane: z
      .strictObject({
        count: z.number().int().min(1).max(7).default(3)
          .describe("Control-plane nodes (API server active-active; controller-manager and scheduler by leader election)."),
        instanceType: instanceType.default("t3.medium"),
      })
      .prefault({}),
    workers: z
      .strictObject({
        count: z.number().int().min(0).max(1000).default(2)
          .describe("Static workers: instances at addresses planned at synth (with autoScaling, in addition to the group's; 0 for none)."),
        instanceType: instanceType.default("t3.medium"),
        autoScaling: z
          .strictObject({
            minSize: z.number().int().min(0).max(1000).describe("Fewest instances the Auto Scaling group keeps."),
            maxSize: z.number().int().min(1).max(1000).describe("Most instances the group may run."),
            desiredCapacity: z.number().int().min(0).max(1000).optional()
              .describe("Instances at creation (default minSize); later applies leave it to whatever scales the group."),
            instanceTypes: z.array(instanceType).min(1).max(20).optional()
              .describe("Instance types the group may launch, in order of preference (default: [workers.instanceType]); required with spot."),
            spot: z
              .strictObject({
                onDemandBaseCapacity: z.number().int().min(0).max(1000).default(0)
                  .describe("Instances that are always On-Demand, before any Spot instance."),
                onDemandPercentageAboveBaseCapacity: z.number().int().min(0).max(100).default(0)
                  .describe("Percentage of the instances above the base that are On-Demand (0: all Spot)."),
              })
              .optional()
              .describe("Run the group's instances as Spot (price-capacity-optimized over instanceTypes); default: On-Demand only."),
          })
          .optional()
          .describe("Workers in an EC2 Auto Scaling group over the private subnets of every zone: their names and addresses are given at boot, not at synth."),
      })
      .prefault({}),
    etcd: z
      .strictObject({
        topology: z.enum(["stacked", "external"]).default("stacked")
          .describe("stacked: one etcd member per control-plane node; external: dedicated etcd nodes."),
        members: z.number().int().min(1).max(7).optional()
          .describe("External etcd members (external only; default 3)."),
        instanceType: instanceType.default("t3.small").describe("External etcd nodes only."),
        version: z
          .string()
          .regex(/^3\.(5|6)\.\d+$/, 'expected an etcd 3.5 or 3.6 release such as "3.6.4"')
          .default(DEFAULT_ETCD_VERSION)
          .describe("etcd release on external etcd nodes (stacked etcd runs kubeadm's default image)."),
      })
      .prefault({}),
    loadBalancer: z
      .strictObject({
        kind: z.enum(LOAD_BALANCER_KINDS).default("haproxy")
          .describe("TCP load balancer in front of the API servers on port 6443: haproxy or nginx on one instance, or nlb (an AWS Network Load Balancer across every zone)."),
        instanceType: instanceType.default("t3.small").describe("haproxy and nginx only: the load-balancer instance."),
        publicAccessCidrs: z.array(z.string()).min(1).max(20).optional()
          .describe("nlb only: also an internet-facing NLB for kubectl from these IPv4 CIDRs (default: none; the API is reachable only inside the VPC)."),
      })
      .prefault({}),
    network: z
      .strictObject({
        vpcCidr: z.string().default("10.0.0.0/16"),
        podSubnet: z.string().default("10.244.0.0/16"),
        serviceSubnet: z.string().default("10.96.0.0/12"),
        availabilityZones: z.array(z.string().regex(/^[a-z0-9-]+[a-z]$/, "expected an availability zone name such as eu-west-1a"))
          .min(2).max(4).optional()
          .describe("Zones to spread nodes over (default: the region's a, b and c)."),
        natGateways: z.enum(["single", "perZone"]).default("single")
          .describe("single: one NAT gateway (cheaper; egress depends on one zone); perZone: one per zone."),
        vpcEndpoints: z.boolean().default(false)
          .describe("Interface endpoints for ssm, ssmmessages, ec2messages, kms and sts in every zone's private subnet, and an S3 gateway endpoint: Session Manager, Parameter Store, KMS and the etcd backups then need no NAT gateway (billed per endpoint, zone and hour)."),
        flowLogs: z
          .strictObject({
            destination: z.enum(FLOW_LOG_DESTINATIONS).default("cloudWatchLogs")
              .describe("cloudWatchLogs: a KMS-encrypted log group the stack creates; s3: an existing bucket (s3Bucket) whose policy admits log delivery."),
            trafficType: z.enum(["ALL", "ACCEPT", "REJECT"]).default("ALL"),
            retentionDays: z.number().int().optional()
              .describe("cloudWatchLogs only: days the log group keeps records, one of CloudWatch Logs' retention values (default 90)."),
            s3Bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "expected an S3 bucket name").optional()
              .describe("s3 only (required): the bucket flow logs are delivered to."),
            s3KeyPrefix: z.string().regex(/^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/, 'expected an object key prefix such as "vpc-flow-logs" (no leading or trailing "/")').optional()
              .describe("s3 only: key prefix in s3Bucket (default: the bucket's root; AWS adds AWSLogs/<account>/...)."),
          })
          .optional()
          .describe("VPC flow logs (default: off)."),
      })
      .prefault({}),
    leaderElection: z
      .strictObject({
        leaseDuration: duration.default("15s"),
        renewDeadline: duration.default("10s"),
        retryPeriod: duration.default("2s"),
      })
      .prefault({}),
    cni: z
      .strictObject({
        plugin: z.enum(["calico", "flannel"]).default("calico")
          .describe("Pod network add-on installed by the first control-plane node."),
      })
      .prefault({}),
    nodes: z
      .strictObject({
        amiId: z.string().regex(/^ami-[0-9a-f]{8,17}$/, "expected an AMI id such as ami-0123456789abcdef0").optional()
          .describe("Pin an AMI; default: the latest Ubuntu 24.04 LTS from Canonical, resolved at plan time."),
        rootVolumeGiB: z.number().int().min(20).max(16384).default(40),
        cpuCredits: z.enum(["standard", "unlimited"]).optional()
          .describe("CPU credits of burstable nodes (t2, t3, t3a, t4g; default standard): unlimited bills surplus credits under sustained load."),
        detailedMonitoring: z.boolean().default(false)
          .describe("EC2 detailed monitoring (1-minute CloudWatch metrics, billed per metric); basic 5-minute metrics are free."),
      })
      .prefault({}),
    sessionManager: z
      .strictObject({
        kmsKeyArn: z.string().optional()
          .describe("KMS key (ARN) the account's Session Manager preferences encrypt sessions with: nodes get kms:Decrypt and kms:GenerateDataKey on it."),
        logging: z
          .strictObject({
            s3Bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "expected an S3 bucket name").optional()
              .describe("Bucket the account's Session Manager preferences write session logs to: nodes may put objects there."),
            s3KeyPrefix: z.string().regex(/^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/, 'expected an object key prefix such as "session-logs" (no leading or trailing "/")').optional()
              .describe("Key prefix of the session logs in s3Bucket (default: the whole bucket)."),
            cloudWatchLogGroup: z.string().regex(/^[.\-_/#A-Za-z0-9]{1,512}$/, "expected a CloudWatch Logs log group name").optional()
              .describe("Log group the account's Session Manager preferences stream session logs to: nodes may write streams there."),
          })
          .prefault({}),
      })
      .prefault({})
      .describe("Session Manager preferences the account enforces (encryption, logging), so nodes get the permissions they need."),
    state: z
      .strictObject({
        backend: z.enum(["local", "s3"]).default("local")
          .describe("Where Terraform keeps this stack's state. s3: encrypted, with S3 native locking."),
        bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "expected an S3 bucket name").optional()
          .describe("S3 bucket (s3 only, required)."),
        key: z.string().min(1).optional().describe("Object key (s3 only; default kubeadm-ha/<stack>/terraform.tfstate)."),
        region: z.string().optional().describe("Bucket region (s3 only; default: the spec's region)."),
      })
      .prefault({}),
    backups: z
      .strictObject({
        enabled: z.boolean().default(true)
          .describe("etcd snapshots to an S3 bucket the stack creates (the current etcd leader takes them)."),
        schedule: z.string().min(1).default("15min")
          .describe('systemd time span between snapshots ("15min", "1h") or an OnCalendar expression ("*:0/15", "daily").'),
        retentionDays: z.number().int().min(1).max(3650).default(30)
          .describe("Days a snapshot (and an overwritten version) is kept before S3 lifecycle expires it."),
        maxAge: z.string().min(1).optional()
          .describe("systemd time span after which the newest snapshot is stale (default: two schedule periods; required with a calendar schedule)."),
      })
      .prefault({}),
    tags: z.record(z.string(), z.string()).default({}).describe("Tags added to every AWS resource."),
    strict: z.boolean().default(false)
      .describe("Refuse to synthesize while any HA warning stands (also for every spec: KUBEADM_HA_STRICT=1)."),
  })
  .describe("kubeadm-ha cluster spec");

export type ClusterSpecInput = z.input<typeof clusterSpecSchema>;
type ParsedSpec = z.output<typeof clusterSpecSchema>;

/** A validated spec with every default resolved. */
export interface ClusterSpec extends Omit<ParsedSpec, "etcd" | "network" | "nodes"> {
  /** Stack name, from the file name. */
  readonly name: string;
  readonly nodes: ParsedSpec["nodes"] & { readonly cpuCredits: "standard" | "unlimited" };
  readonly etcd: ParsedSpec["etcd"] & { readonly members: number };
  readonly network: ParsedSpec["network"] & { readonly availabilityZones: string[] };
}

/** JSON Schema for editors (yaml-language-server). */
export function clusterSpecJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(clusterSpecSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}
