/**
 * One Terraform stack per cluster spec: the AWS provider, the state backend, the cluster and the
 * outputs an operator needs (endpoint, addresses, instance IDs for SSM, parameter prefixes).
 * Outputs carry identifiers only: no user data, no secret (secrets never enter Terraform at all).
 */
import { Construct } from "constructs";
import { Annotations, DISABLE_STACK_TRACE_IN_METADATA, LocalBackend, S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import type { ClusterNode, NodeRole, Topology } from "./topology";
import { kmsAlias, parameterPrefix, SecretAudience } from "./secret-store";
import { isHclSynth } from "./constructs/hcl-output";
import { KubeadmHaCluster } from "./constructs/kubeadm-ha-cluster";
import { foreignReferences } from "./stack-references";
import type { CniPort } from "./cni-ports";
import type { GuardLift } from "./day2/guard-lift";

/** Where Terraform keeps the stack's state. */
export type ClusterBackend =
  | {
      readonly kind: "local";
      /**
       * State file, relative to the stack's working directory (<outdir>/stacks/<stack>).
       * @default LOCAL_STATE_PATH: state/<stack>.tfstate beside the output folder, never inside it
       */
      readonly path?: string;
    }
  | {
      readonly kind: "s3";
      readonly bucket: string;
      /** @default "kubeadm-ha/<stack>/terraform.tfstate" */
      readonly key?: string;
      /** The bucket's region. @default spec.region */
      readonly region?: string;
      /**
       * DynamoDB table for state locking. Without it the stack uses S3 native locking
       * (`use_lockfile`, Terraform 1.10+).
       * @default - S3 native locking
       */
      readonly dynamodbTable?: string;
    };

export interface ClusterStackProps {
  readonly topology: Topology;
  /** Each node's user data; see ClusterNodesProps.userData. */
  readonly userData: (node: ClusterNode) => string;
  /**
   * Ports the CNI needs between Kubernetes nodes; see ClusterSecurityGroupsProps.cniPorts.
   * @default topology.cniPorts
   */
  readonly cniPorts?: readonly CniPort[];
  /** @default { kind: "local" } */
  readonly backend?: ClusterBackend;
  /** Each node's configuration digest; see KubeadmHaClusterProps.nodeDigests. */
  readonly nodeDigests?: ReadonlyMap<string, string>;
  /** @default - every guard in place */
  readonly guardLift?: GuardLift;
}

/**
 * Local state lives in state/ beside the output folder (the repository root for cdktf.out): cdktf
 * deletes a removed stack's folder and `rm -rf cdktf.out` is routine, neither may take the state.
 */
export function localStatePath(stack: string): string {
  return `../../../state/${stack}.tfstate`;
}

/** The S3 backend's native locking (use_lockfile) needs 1.10; check blocks need 1.5. */
export const REQUIRED_TERRAFORM_VERSION = ">= 1.10";

/** Tags the blueprint relies on (cost reports, finding a cluster's resources); spec.tags cannot override them. */
export const MANAGED_BY = "kubeadm-ha";

const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export class ClusterStack extends TerraformStack {
  public readonly provider: AwsProvider;
  public readonly cluster: KubeadmHaCluster;

  /**
   * cdktf's preparing pass resolves every element of the stack once more before synthesis, only
   * to discover references to other stacks (and add their outputs and remote-state data sources).
   * A cluster's stack is built from plain data (its topology and rendered files) and refers to no
   * other stack, so the pass finds nothing; it is a third of a large cluster's synth. A test
   * synthesizes the shipped stacks with it and without it and requires identical output: a fork
   * that wires one stack to another must delete this override.
   */
  public prepareStack(): void {
    if (process.env.KUBEADM_HA_CDKTF_PREPARE === "1") return super.prepareStack();
    this.ensureBackendExists();
  }

  /** The stack's JSON, refused if it refers to anything it does not define (see prepareStack). */
  public toTerraform(): any {
    const json = super.toTerraform();
    const foreign = foreignReferences(json);
    if (foreign.length > 0) {
      throw new Error(
        `stack ${this.node.id} refers to ${foreign.join(", ")}, which the stack does not define. ` +
          "A reference to another stack needs cdktf's preparing pass, which ClusterStack skips: delete ClusterStack.prepareStack " +
          "(or set KUBEADM_HA_CDKTF_PREPARE=1) in a fork that wires one stack to another.",
      );
    }
    return json;
  }

  constructor(scope: Construct, id: string, props: ClusterStackProps) {
    super(scope, id);
    // Warnings would otherwise carry a stack trace of absolute paths into cdktf.out/manifest.json,
    // which then differs from machine to machine. (Context must be set before any child exists.)
    this.node.setContext(DISABLE_STACK_TRACE_IN_METADATA, true);
    const { topology } = props;
    const stack = topology.stack;
    const spec = topology.spec;

    const fixedTags = { Cluster: stack, ManagedBy: MANAGED_BY };
    for (const [key, value] of Object.entries(fixedTags)) {
      const given = spec.tags[key];
      if (given !== undefined && given !== value) {
        Annotations.of(this).addWarning(`tags.${key}: "${given}" is replaced by "${value}"; the blueprint sets this tag itself`);
      }
    }
    this.provider = new AwsProvider(this, "aws", {
      region: spec.region,
      // Sorted keys: the JSON must not change when someone reorders the spec's tags.
      defaultTags: [{ tags: sortedRecord({ ...spec.tags, ...fixedTags }) }],
    });

    // cdktf 0.21's HCL renderer garbles an override inside the terraform block (`0 = "required_version"`),
    // so `cdktf synth --hcl` output leaves it out; README's HCL section says to add it by hand.
    if (!isHclSynth(this)) this.addOverride("terraform.required_version", REQUIRED_TERRAFORM_VERSION);
    this.configureBackend(stack, spec.region, props.backend ?? { kind: "local" });

    for (const warning of topology.warnings) Annotations.of(this).addWarning(warning);

    this.cluster = new KubeadmHaCluster(this, "cluster", {
      topology,
      userData: props.userData,
      cniPorts: props.cniPorts,
      nodeDigests: props.nodeDigests,
      guardLift: props.guardLift,
      launchedResourceTags: sortedRecord({ ...spec.tags, ...fixedTags }),
    });
    const instances = this.cluster.nodes.instances;

    new TerraformOutput(this, "api_endpoint", {
      value: topology.controlPlaneEndpoint,
      description: "controlPlaneEndpoint: the load balancer's host:port, the server of every kubeconfig",
    });
    const privateIps: Partial<Record<NodeRole, Record<string, string>>> = {};
    for (const node of topology.nodes) {
      privateIps[node.role] = { ...privateIps[node.role], [node.name]: node.privateIp };
    }
    new TerraformOutput(this, "private_ips", {
      value: privateIps,
      description: "Private IP of every node, by role and node name",
    });
    new TerraformOutput(this, "instance_ids", {
      value: Object.fromEntries(topology.nodes.map((node) => [node.name, instances[node.name].id])),
      description: "EC2 instance ID by node name, the target of `aws ssm start-session`",
    });
    if (topology.loadBalancer) {
      new TerraformOutput(this, "load_balancer_instance_id", {
        value: instances[topology.loadBalancer.name].id,
        description: `EC2 instance ID of ${topology.loadBalancer.name}`,
      });
    }
    new TerraformOutput(this, "init_node_instance_id", {
      value: instances[topology.initNode.name].id,
      description: `EC2 instance ID of ${topology.initNode.name}, which ran kubeadm init (target for SSM commands such as fetching admin.conf)`,
    });
    for (const [name, [value, description]] of Object.entries(this.cluster.apiLoadBalancer?.outputs ?? {})) {
      new TerraformOutput(this, name, { value, description });
    }
    if (this.cluster.workerAutoScaling) {
      new TerraformOutput(this, "worker_auto_scaling_group", {
        value: this.cluster.workerAutoScaling.group.name,
        description: "The workers' Auto Scaling group: its instances' names and addresses are dynamic (aws autoscaling describe-auto-scaling-groups)",
      });
    }
    if (this.cluster.backups) {
      new TerraformOutput(this, "etcd_backup_bucket", {
        value: this.cluster.backups.bucket.bucket,
        description: "S3 bucket of the etcd snapshots (etcd/YYYY/MM/DD/); see docs/operations.md",
      });
    }
    const audiences = Object.keys(this.cluster.identity.kmsKeys).sort() as SecretAudience[];
    new TerraformOutput(this, "parameter_prefixes", {
      value: Object.fromEntries(audiences.map((audience) => [audience, parameterPrefix(stack, audience)])),
      description: "SSM Parameter Store prefix of each secret audience (values are SecureStrings the nodes write)",
    });
    new TerraformOutput(this, "kms_key_aliases", {
      value: Object.fromEntries(audiences.map((audience) => [audience, kmsAlias(stack, audience)])),
      description: "KMS key alias of each secret audience",
    });
  }

  private configureBackend(stack: string, region: string, backend: ClusterBackend): void {
    if (backend.kind === "local") {
      // Explicit (not cdktf's implicit default) so the state location is visible in the JSON.
      new LocalBackend(this, { path: backend.path ?? localStatePath(stack) });
      return;
    }
    if (!S3_BUCKET.test(backend.bucket)) {
      throw new Error(`${this.node.path}: backend.bucket: ${JSON.stringify(backend.bucket)}: expected an S3 bucket name (3-63 lowercase letters, digits, '.', '-')`);
    }
    const key = backend.key ?? `kubeadm-ha/${stack}/terraform.tfstate`;
    if (key === "" || key.startsWith("/") || key.endsWith("/")) {
      throw new Error(`${this.node.path}: backend.key: ${JSON.stringify(key)}: expected an object key such as "kubeadm-ha/${stack}/terraform.tfstate"`);
    }
    const s3 = new S3Backend(this, {
      bucket: backend.bucket,
      key,
      region: backend.region ?? region,
      // Server-side encryption of the state object. The state holds no secret, but it maps the cluster.
      encrypt: true,
      dynamodbTable: backend.dynamodbTable,
    });
    if (!backend.dynamodbTable) {
      // cdktf 0.21's S3BackendConfig predates S3 native locking, so set Terraform's (1.10+)
      // `use_lockfile` directly: state is never written without a lock.
      s3.addOverride("use_lockfile", true);
    }
  }
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
