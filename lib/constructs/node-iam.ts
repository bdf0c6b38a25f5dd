/**
 * Node identities: per role an IAM role and instance profile, and per secret audience
 * (lib/secret-store.ts) a KMS key and alias. Terraform creates keys, roles and policies only; the
 * nodes create every secret value themselves at boot, so the Terraform state holds none.
 *
 * Two independent layers keep an audience's secrets inside the audience:
 * - IAM: a role may read (GetParameter*) or write (PutParameter...) only under the prefixes of
 *   the audiences it belongs to, /kubeadm-ha/<stack>/<audience>/*.
 * - KMS: the key policy lets only the audience's reader roles Decrypt, only its writer roles
 *   Encrypt, and only through Parameter Store.
 *   IAM policies cannot widen that for nodes: the account statements delegate key administration,
 *   and use only for operator audiences (the admin kubeconfig), to the account's IAM, and both
 *   exclude every node role (NODE_ROLE_PATH) by aws:PrincipalArn, so no IAM policy attached to a
 *   node role can give it CreateGrant, PutKeyPolicy or Decrypt.
 *
 * Every principal and resource ARN is built from known parts (partition and account from data
 * sources, the fixed role path and names), never from a resource attribute: Terraform reads the
 * data sources at plan time, so the policy documents, and the key policies with them, stay
 * readable in every plan, even one that changes a role. The keys depend on the roles explicitly
 * instead, because KMS rejects a policy naming a role that does not exist yet.
 * Synth makes no AWS call and writes the same JSON for every account.
 */
import { Construct } from "constructs";
import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity";
import {
  DataAwsIamPolicyDocument,
  DataAwsIamPolicyDocumentStatement,
} from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { DataAwsPartition } from "@cdktf/provider-aws/lib/data-aws-partition";
import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { CONTROL_PLANE_JOIN_LEASE_SUBPATH, kmsAlias, parameterPrefix, SECRET_KEYS, SecretAudience, SecretKeySpec } from "../secret-store";
import type { NodeRole, Topology } from "../topology";
import { provisionedRoles } from "../roles";
import type { ClusterSpec } from "../spec";

/** Session Manager preferences the account enforces; see docs/security.md. */
export type SessionManagerOptions = ClusterSpec["sessionManager"];

export interface NodeIdentityProps {
  /** Stack name, region and etcd topology (external etcd adds the etcd role). */
  readonly topology: Topology;
  /**
   * Days a deleted KMS key stays recoverable (7-30). A key deleted by mistake makes every
   * parameter it encrypted unreadable, so the longest window is the default.
   * @default 30
   */
  readonly kmsDeletionWindowDays?: number;
  /**
   * The audiences, with their reader and writer roles.
   * @default SECRET_KEYS from lib/secret-store.ts
   */
  readonly secretKeys?: readonly SecretKeySpec[];
  /**
   * Audiences whose parameters people and CI of the account may decrypt through Parameter
   * Store, when their own IAM policies allow kms:Decrypt: the admin kubeconfig lives in the
   * control-plane audience (scripts/get-kubeconfig.sh). Node roles are excluded by ARN, so no
   * IAM policy attached to a worker or load balancer can ever open these keys.
   * @default ["control-plane"]
   */
  readonly operatorAudiences?: readonly SecretAudience[];
  /**
   * Lifts prevent_destroy from the KMS keys, for a deliberate teardown (KUBEADM_HA_ALLOW_DESTROY).
   * @default false
   */
  readonly allowDestroy?: boolean;
  /**
   * Session encryption key and session log destinations of the account's Session Manager
   * preferences: the agent needs permissions on them, or sessions fail in such accounts.
   * @default topology.spec.sessionManager
   */
  readonly sessionManager?: SessionManagerOptions;
}

/** IAM path of every node role; the key policies exclude it from the account's delegations. */
export const NODE_ROLE_PATH = "/kubeadm-ha/";

/** Key administration for the account (and through it, IAM admins). No cryptographic use. */
const KEY_ADMIN_ACTIONS = [
  "kms:CancelKeyDeletion",
  "kms:Create*",
  "kms:Delete*",
  "kms:Describe*",
  "kms:Disable*",
  "kms:Enable*",
  "kms:Get*",
  "kms:List*",
  "kms:Put*",
  "kms:Revoke*",
  "kms:RotateKeyOnDemand",
  "kms:ScheduleKeyDeletion",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:Update*",
];

/**
 * The statement every KMS key policy of the stack starts with: the account's IAM administers the
 * key (and the root user can always recover it), but no node role can, whatever IAM policy it is
 * given: CreateGrant or PutKeyPolicy would let it grant itself Decrypt.
 */
export function accountAdministersKey(partition: string, accountId: string, nodeRolePath: string = NODE_ROLE_PATH): DataAwsIamPolicyDocumentStatement {
  return {
    sid: "AccountAdministersKey",
    effect: "Allow",
    principals: [{ type: "AWS", identifiers: [`arn:${partition}:iam::${accountId}:root`] }],
    actions: KEY_ADMIN_ACTIONS,
    resources: ["*"],
    condition: [{ test: "ArnNotLike", variable: "aws:PrincipalArn", values: [`arn:${partition}:iam::${accountId}:role${nodeRolePath}*`] }],
  };
}

/*
 * The SSM agent's own calls (Systems Manager User Guide, "Reference: ec2messages, ssmmessages, and
 * other API calls"), nothing else. AmazonSSMManagedInstanceCore is deliberately not attached: it
 * also grants ssm:GetParameter and ssm:GetParameters on every parameter in the account ("*"),
 * which is why lib/secret-store.ts has KMS enforce each audience. Without Core the IAM layer is
 * scoped too, and KMS remains the guarantee if someone adds Core back.
 */
/** Session Manager's channels. ssmmessages defines no resource type, so these take "*". */
export const SESSION_CHANNEL_ACTIONS = [
  "ssmmessages:CreateControlChannel",
  "ssmmessages:CreateDataChannel",
  "ssmmessages:OpenControlChannel",
  "ssmmessages:OpenDataChannel",
];
/** Run Command's message channel (operators' `aws ssm send-command`). ec2messages defines no resource type either. */
export const RUN_COMMAND_ACTIONS = [
  "ec2messages:AcknowledgeMessage",
  "ec2messages:DeleteMessage",
  "ec2messages:FailMessage",
  "ec2messages:GetEndpoint",
  "ec2messages:GetMessages",
  "ec2messages:SendReply",
];
/**
 * The agent's heartbeat, which registers the node with Systems Manager. Its resource types are
 * EC2 instances and managed instances, with aws:ResourceTag conditions, so each role may report
 * only for the instances of its own cluster and role (the Cluster and Role tags every node has).
 */
export const HEARTBEAT_ACTION = "ssm:UpdateInstanceInformation";
/** Exactly what the boot scripts call (get-parameter, put-parameter --overwrite, no tags). */
const READ_ACTIONS = ["ssm:GetParameter", "ssm:GetParameters"];
const WRITE_ACTIONS = ["ssm:PutParameter"];

export class NodeIdentity extends Construct {
  /** IAM role by node role; etcd only with external etcd. */
  public readonly roles: Readonly<Partial<Record<NodeRole, IamRole>>>;
  public readonly instanceProfiles: Readonly<Partial<Record<NodeRole, IamInstanceProfile>>>;
  /** KMS key by audience; an audience gets a key only when one of its reader roles exists. */
  public readonly kmsKeys: Readonly<Partial<Record<SecretAudience, KmsKey>>>;
  public readonly kmsAliases: Readonly<Partial<Record<SecretAudience, KmsAlias>>>;
  /** Every inline role policy. Nodes use them at first boot, so instances should depend on them. */
  public readonly rolePolicies: readonly IamRolePolicy[];
  public readonly callerIdentity: DataAwsCallerIdentity;
  public readonly partition: DataAwsPartition;

  constructor(scope: Construct, id: string, props: NodeIdentityProps) {
    super(scope, id);
    const { topology } = props;
    const stack = topology.stack;
    const region = topology.spec.region;
    const deletionWindow = props.kmsDeletionWindowDays ?? 30;
    if (!Number.isInteger(deletionWindow) || deletionWindow < 7 || deletionWindow > 30) {
      throw new Error(`${this.node.path}: kmsDeletionWindowDays: ${deletionWindow}: expected a whole number of days from 7 to 30`);
    }
    const secretKeys = props.secretKeys ?? SECRET_KEYS;
    const audiences = secretKeys.map((key) => key.audience);
    if (new Set(audiences).size !== audiences.length) {
      throw new Error(`${this.node.path}: secretKeys: each audience must appear once: ${audiences.join(", ")}`);
    }
    const sessionManager = props.sessionManager ?? topology.spec.sessionManager;
    const operatorAudiences = props.operatorAudiences ?? ["control-plane"];
    for (const audience of operatorAudiences) {
      if (!audiences.includes(audience)) {
        throw new Error(`${this.node.path}: operatorAudiences: ${JSON.stringify(audience)}: expected one of ${audiences.join(", ")}`);
      }
    }

    // Workers get a role even with workers.count 0, so adding workers later changes no IAM or KMS.
    const roleNames = provisionedRoles(topology, "instanceProfile");

    this.callerIdentity = new DataAwsCallerIdentity(this, "caller-identity", {});
    this.partition = new DataAwsPartition(this, "partition", {});
    const partition = this.partition.partition;
    const account = this.callerIdentity.accountId;
    const parameterArn = (audience: SecretAudience) =>
      `arn:${partition}:ssm:${region}:${account}:parameter${parameterPrefix(stack, audience)}`;
    const accountRoot = `arn:${partition}:iam::${account}:root`;
    /** Every kubeadm-ha node role of the account (all stacks), for the account statements' exclusion. */
    const anyNodeRole = `arn:${partition}:iam::${account}:role${NODE_ROLE_PATH}*`;
    const roleArn = (role: NodeRole) => `arn:${partition}:iam::${account}:role${NODE_ROLE_PATH}${roleName(stack, region, role)}`;

    const assumeRole = new DataAwsIamPolicyDocument(this, "ec2-assume-role", {
      statement: [
        {
          sid: "Ec2AssumeRole",
          effect: "Allow",
          actions: ["sts:AssumeRole"],
          principals: [{ type: "Service", identifiers: ["ec2.amazonaws.com"] }],
        },
      ],
    });

    const roles: Partial<Record<NodeRole, IamRole>> = {};
    const profiles: Partial<Record<NodeRole, IamInstanceProfile>> = {};
    const policies: IamRolePolicy[] = [];
    for (const role of roleNames) {
      // Fixed names: they are what `aws iam` and CloudTrail show. IAM is global to the account, so
      // the region is part of the name: the same stack name may run in two regions.
      const iamName = roleName(stack, region, role);
      const iamRole = new IamRole(this, `${role}-role`, {
        name: iamName,
        path: NODE_ROLE_PATH,
        description: `kubeadm-ha ${stack}: ${role} nodes`,
        assumeRolePolicy: assumeRole.json,
        tags: { Name: `${stack}-${role}`, Role: role },
      });
      roles[role] = iamRole;
      profiles[role] = new IamInstanceProfile(this, `${role}-instance-profile`, {
        name: iamName,
        path: NODE_ROLE_PATH,
        role: iamRole.name,
        tags: { Name: `${stack}-${role}`, Role: role },
      });

      const agentPolicy = new DataAwsIamPolicyDocument(this, `${role}-session-manager-policy`, {
        statement: sessionManagerStatements({ partition, region, account, stack, role, options: sessionManager }),
      });
      policies.push(
        new IamRolePolicy(this, `${role}-session-manager`, {
          name: "session-manager",
          role: iamRole.name,
          policy: agentPolicy.json,
        }),
      );

      const statements: DataAwsIamPolicyDocumentStatement[] = [];
      for (const key of secretKeys) {
        const reads = (key.readers as readonly NodeRole[]).includes(role);
        const writes = (key.writers as readonly NodeRole[]).includes(role);
        if (!reads && !writes) continue;
        const sid = pascal(key.audience);
        const confinedTo = key.confinedWriters?.[role as keyof typeof key.confinedWriters];
        const arns = confinedTo
          ? confinedTo.map((relative) => `${parameterArn(key.audience)}/${relative}`)
          : [`${parameterArn(key.audience)}/*`];
        // Writers may read back what they wrote (existence checks); without the reader's KMS grant
        // they only ever see ciphertext.
        statements.push({ sid: `Read${sid}Parameters`, effect: "Allow", actions: READ_ACTIONS, resources: arns });
        if (writes) {
          statements.push({ sid: `Write${sid}Parameters`, effect: "Allow", actions: WRITE_ACTIONS, resources: arns });
        }
      }
      if (role === "control-plane") {
        // The join lease (templates/join-node.sh) is released by deleting it.
        statements.push({
          sid: "ReleaseControlPlaneJoinLease",
          effect: "Allow",
          actions: ["ssm:DeleteParameter"],
          resources: [`${parameterArn("control-plane")}/${CONTROL_PLANE_JOIN_LEASE_SUBPATH}`],
        });
      }
      if (statements.length > 0) {
        const secrets = new DataAwsIamPolicyDocument(this, `${role}-secrets-policy`, { statement: statements });
        policies.push(
          new IamRolePolicy(this, `${role}-secrets`, {
            name: "kubeadm-ha-secrets",
            role: iamRole.name,
            policy: secrets.json,
          }),
        );
      }
    }
    this.roles = roles;
    this.instanceProfiles = profiles;
    this.rolePolicies = policies;

    const keys: Partial<Record<SecretAudience, KmsKey>> = {};
    const aliases: Partial<Record<SecretAudience, KmsAlias>> = {};
    const viaSsm = `ssm.${region}.${this.partition.dnsSuffix}`;
    for (const key of secretKeys) {
      const readers = key.readers.filter((role) => roles[role]);
      const writers = key.writers.filter((role) => roles[role]);
      // E.g. the etcd audience with stacked etcd: nobody could ever decrypt, so no key.
      if (readers.length === 0) continue;
      const sid = pascal(key.audience);
      // Only through Parameter Store, so the key is no general-purpose decryption oracle. There is
      // deliberately no kms:EncryptionContext:PARAMETER_ARN condition: the boot scripts write with
      // --tier Intelligent-Tiering, so admin.conf (> 4 KB) becomes an advanced parameter whose
      // envelope encryption we cannot verify here to carry that context, and a wrong guess would
      // stop the init node from publishing. IAM already confines each role to its audiences' prefixes.
      const conditions = [{ test: "StringEquals", variable: "kms:ViaService", values: [viaSsm] }];
      // In a key policy, "*" as the resource means this key.
      const statement: DataAwsIamPolicyDocumentStatement[] = [
        accountAdministersKey(partition, account),
        {
          sid: `${sid}ReadersDecryptViaParameterStore`,
          effect: "Allow",
          principals: [{ type: "AWS", identifiers: readers.map(roleArn) }],
          actions: ["kms:Decrypt"],
          resources: ["*"],
          condition: conditions,
        },
      ];
      if (operatorAudiences.includes(key.audience)) {
        // IAM delegation for people and CI (get-kubeconfig.sh), like AWS's default key policy but
        // Decrypt only, through Parameter Store only, and never for a kubeadm-ha node role: those
        // all live under NODE_ROLE_PATH, so a worker stays locked out even if someone attaches
        // AmazonSSMManagedInstanceCore or a kms:* policy to it.
        statement.push({
          sid: `${sid}OperatorsDecryptViaParameterStore`,
          effect: "Allow",
          principals: [{ type: "AWS", identifiers: [accountRoot] }],
          actions: ["kms:Decrypt"],
          resources: ["*"],
          condition: [...conditions, { test: "ArnNotLike", variable: "aws:PrincipalArn", values: [anyNodeRole] }],
        });
      }
      if (writers.length > 0) {
        statement.push({
          sid: `${sid}WritersEncryptViaParameterStore`,
          effect: "Allow",
          principals: [{ type: "AWS", identifiers: writers.map(roleArn) }],
          // Encrypt for standard parameters (<= 4 KB), GenerateDataKey for advanced ones (the boot
          // scripts use Intelligent-Tiering, so admin.conf is advanced); DescribeKey lets
          // Parameter Store resolve the alias the scripts pass as --key-id. None of them decrypts.
          actions: ["kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
          resources: ["*"],
          condition: conditions,
        });
      }
      const policy = new DataAwsIamPolicyDocument(this, `${key.audience}-key-policy`, { statement });
      keys[key.audience] = new KmsKey(this, `${key.audience}-key`, {
        description: `kubeadm-ha ${stack}: ${key.description}`,
        enableKeyRotation: true,
        deletionWindowInDays: deletionWindow,
        policy: policy.json,
        tags: { Name: `${stack}-${key.audience}`, Audience: key.audience },
        // Losing a key loses every parameter it encrypted: no ordinary apply may schedule its deletion.
        lifecycle: { preventDestroy: !props.allowDestroy },
        // The policy names the roles by ARN, not by reference: they must exist before it is set.
        dependsOn: [...new Set([...readers, ...writers])].map((role) => roles[role]!),
      });
      // The nodes address keys by alias: known at synth time and rendered into their boot scripts.
      aliases[key.audience] = new KmsAlias(this, `${key.audience}-alias`, {
        name: kmsAlias(stack, key.audience),
        targetKeyId: keys[key.audience]!.keyId,
      });
    }
    this.kmsKeys = keys;
    this.kmsAliases = aliases;
  }

  /** The role's instance profile; throws for a role this cluster has none for (etcd when stacked). */
  public instanceProfile(role: NodeRole): IamInstanceProfile {
    const profile = this.instanceProfiles[role];
    if (!profile) throw new Error(`${this.node.path}: no ${role} instance profile (etcd is stacked)`);
    return profile;
  }
}

/**
 * A node role's IAM name (under NODE_ROLE_PATH); fixed, so ARNs can be written before the role
 * exists. IAM is global to the account: the region keeps the same stack in two regions apart.
 */
export function roleName(stack: string, region: string, role: NodeRole): string {
  return `${stack}-${region}-${role}`;
}

interface AgentPolicyContext {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly stack: string;
  readonly role: NodeRole;
  readonly options: SessionManagerOptions;
}

/** The SSM agent's statements for one role, plus what the account's Session Manager preferences need. */
function sessionManagerStatements(context: AgentPolicyContext): DataAwsIamPolicyDocumentStatement[] {
  const { partition, region, account, stack, role, options } = context;
  const statements: DataAwsIamPolicyDocumentStatement[] = [
    { sid: "SessionManagerChannels", effect: "Allow", actions: SESSION_CHANNEL_ACTIONS, resources: ["*"] },
    { sid: "RunCommandChannel", effect: "Allow", actions: RUN_COMMAND_ACTIONS, resources: ["*"] },
    {
      sid: "HeartbeatForThisClusterAndRole",
      effect: "Allow",
      actions: [HEARTBEAT_ACTION],
      resources: [`arn:${partition}:ec2:${region}:${account}:instance/*`],
      condition: [
        { test: "StringEquals", variable: "aws:ResourceTag/Cluster", values: [stack] },
        { test: "StringEquals", variable: "aws:ResourceTag/Role", values: [role] },
      ],
    },
  ];
  if (options.kmsKeyArn) {
    statements.push({
      // Decrypt for the session data channel; GenerateDataKey for the session logs the agent
      // uploads encrypted (AWS's instance profile examples for encryption and for logging).
      sid: "SessionEncryptionKey",
      effect: "Allow",
      actions: ["kms:Decrypt", "kms:GenerateDataKey"],
      resources: [options.kmsKeyArn],
    });
  }
  const { s3Bucket, s3KeyPrefix, cloudWatchLogGroup } = options.logging;
  if (s3Bucket) {
    statements.push(
      {
        sid: "SessionLogsToS3",
        effect: "Allow",
        actions: ["s3:PutObject"],
        resources: [`arn:${partition}:s3:::${s3Bucket}/${s3KeyPrefix ? `${s3KeyPrefix}/` : ""}*`],
      },
      {
        // The agent checks the bucket's default encryption when the preferences require it.
        sid: "SessionLogsBucketEncryption",
        effect: "Allow",
        actions: ["s3:GetEncryptionConfiguration"],
        resources: [`arn:${partition}:s3:::${s3Bucket}`],
      },
    );
  }
  if (cloudWatchLogGroup) {
    statements.push(
      {
        sid: "SessionLogsToCloudWatch",
        effect: "Allow",
        actions: ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
        resources: [`arn:${partition}:logs:${region}:${account}:log-group:${cloudWatchLogGroup}:*`],
      },
      {
        // A list action without resource-level permissions: names and settings of log groups, no log data.
        sid: "SessionLogsFindLogGroup",
        effect: "Allow",
        actions: ["logs:DescribeLogGroups"],
        resources: ["*"],
      },
    );
  }
  return statements;
}

function pascal(text: string): string {
  return text
    .split(/[^a-zA-Z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join("");
}
