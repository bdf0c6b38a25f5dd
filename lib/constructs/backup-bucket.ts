/**
 * The etcd backup bucket: versioned, encrypted with a KMS key of its own, public access blocked,
 * TLS only, snapshots expired after spec.backups.retentionDays (overwritten versions too), and both
 * bucket and key protected from `terraform destroy` (lifecycle prevent_destroy).
 *
 * A key of its own, not an audience key of lib/secret-store.ts: a snapshot holds every Secret of
 * the cluster, so only operators may read it (the holders only encrypt), the audience keys are
 * confined to Parameter Store, and the backups must outlive any node-secret key.
 *
 * The etcd holders' role (control-plane with stacked etcd, etcd with external etcd) may put objects
 * under etcd/ and list them, nothing else: no GetObject, no s3:DeleteObject*, and the bucket policy
 * denies deletion and policy/lifecycle/versioning changes to every kubeadm-ha node role even if
 * someone attaches a broader policy to one. Operators read through their own IAM permissions (the
 * key policy delegates Decrypt through S3 to the account, node roles excluded).
 */
import { Construct } from "constructs";
import { accountAdministersKey } from "./node-iam";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketLifecycleConfiguration } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { BACKUP_OBJECT_PREFIX, backupBucketName, backupKmsAlias } from "../backups";
import type { Topology } from "../topology";

export interface EtcdBackupBucketProps {
  readonly topology: Topology;
  /** The IAM role of the nodes that run etcd members; gets put and list rights under etcd/. */
  readonly holderRole: IamRole;
  /** Its name, literal (ARNs are built from known parts, so the review bundle can show them). */
  readonly holderRoleName: string;
  /** `aws_caller_identity.account_id`, `aws_partition.partition` and `.dns_suffix` (tokens). */
  readonly accountId: string;
  readonly partition: string;
  readonly dnsSuffix: string;
  /** IAM path of every node role; the bucket policy denies destructive actions to it. */
  readonly nodeRolePath: string;
  /**
   * Days a deleted key stays recoverable (7-30); without the key no snapshot can be read.
   * @default 30
   */
  readonly kmsDeletionWindowDays?: number;
}

const NODE_DENIED_ACTIONS = [
  "s3:DeleteObject",
  "s3:DeleteObjectVersion",
  "s3:DeleteBucket",
  "s3:DeleteBucketPolicy",
  "s3:PutBucketPolicy",
  "s3:PutLifecycleConfiguration",
  "s3:PutBucketVersioning",
  "s3:PutBucketObjectLockConfiguration",
  "s3:PutObjectRetention",
  "s3:PutObjectLegalHold",
  "s3:BypassGovernanceRetention",
];

export class EtcdBackupBucket extends Construct {
  public readonly bucket: S3Bucket;
  public readonly kmsKey: KmsKey;
  public readonly kmsAlias: KmsAlias;
  public readonly holderPolicy: IamRolePolicy;

  constructor(scope: Construct, id: string, props: EtcdBackupBucketProps) {
    super(scope, id);
    const { topology, partition, accountId } = props;
    const { stack, spec } = topology;
    const retention = spec.backups.retentionDays;
    if (!Number.isInteger(retention) || retention < 1) {
      throw new Error(`${this.node.path}: backups.retentionDays: ${retention}: expected a whole number of days, at least 1`);
    }
    const deletionWindow = props.kmsDeletionWindowDays ?? 30;
    if (!Number.isInteger(deletionWindow) || deletionWindow < 7 || deletionWindow > 30) {
      throw new Error(`${this.node.path}: kmsDeletionWindowDays: ${deletionWindow}: expected a whole number of days from 7 to 30`);
    }
    const protect = { preventDestroy: true };
    const viaS3 = [{ test: "StringEquals", variable: "kms:ViaService", values: [`s3.${spec.region}.${props.dnsSuffix}`] }];
    const nodeRoles = `arn:${partition}:iam::${accountId}:role${props.nodeRolePath}*`;
    const holderArn = `arn:${partition}:iam::${accountId}:role${props.nodeRolePath}${props.holderRoleName}`;
    const bucketName = backupBucketName(stack, accountId, spec.region);
    const bucketArn = `arn:${partition}:s3:::${bucketName}`;

    const keyPolicy = new DataAwsIamPolicyDocument(this, "key-policy", {
      statement: [
        accountAdministersKey(partition, accountId, props.nodeRolePath),
        {
          // Single-part uploads (put-object) need only a data key; the holders never decrypt.
          sid: "HoldersEncryptViaS3",
          effect: "Allow",
          principals: [{ type: "AWS", identifiers: [holderArn] }],
          actions: ["kms:GenerateDataKey"],
          resources: ["*"],
          condition: viaS3,
        },
        {
          sid: "OperatorsDecryptViaS3",
          effect: "Allow",
          principals: [{ type: "AWS", identifiers: [`arn:${partition}:iam::${accountId}:root`] }],
          actions: ["kms:Decrypt", "kms:DescribeKey"],
          resources: ["*"],
          condition: [...viaS3, { test: "ArnNotLike", variable: "aws:PrincipalArn", values: [nodeRoles] }],
        },
      ],
    });
    this.kmsKey = new KmsKey(this, "key", {
      description: `kubeadm-ha ${stack}: etcd backups`,
      enableKeyRotation: true,
      deletionWindowInDays: deletionWindow,
      policy: keyPolicy.json,
      tags: { Name: `${stack}-etcd-backups` },
      lifecycle: protect,
      // The policy names the role by ARN, not by reference: it must exist before the policy is set.
      dependsOn: [props.holderRole],
    });
    this.kmsAlias = new KmsAlias(this, "alias", { name: backupKmsAlias(stack), targetKeyId: this.kmsKey.keyId });

    this.bucket = new S3Bucket(this, "bucket", {
      bucket: bucketName,
      tags: { Name: `${stack}-etcd-backups` },
      lifecycle: protect,
    });
    const bucket = this.bucket.id;
    new S3BucketOwnershipControls(this, "ownership", { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } });
    new S3BucketPublicAccessBlock(this, "public-access-block", {
      bucket,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketVersioningA(this, "versioning", { bucket, versioningConfiguration: { status: "Enabled" } });
    new S3BucketServerSideEncryptionConfigurationA(this, "encryption", {
      bucket,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: this.kmsKey.arn }, bucketKeyEnabled: true }],
    });
    new S3BucketLifecycleConfiguration(this, "retention", {
      bucket,
      rule: [
        {
          id: "etcd-snapshot-retention",
          status: "Enabled",
          filter: [{ prefix: `${BACKUP_OBJECT_PREFIX}/` }],
          expiration: [{ days: retention }],
          // An overwritten or expired snapshot stays recoverable as long again.
          noncurrentVersionExpiration: [{ noncurrentDays: retention }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }],
        },
        { id: "expired-delete-markers", status: "Enabled", filter: [{ prefix: "" }], expiration: [{ expiredObjectDeleteMarker: true }] },
      ],
    });
    const bucketPolicy = new DataAwsIamPolicyDocument(this, "bucket-policy-document", {
      statement: [
        {
          sid: "DenyInsecureTransport",
          effect: "Deny",
          principals: [{ type: "*", identifiers: ["*"] }],
          actions: ["s3:*"],
          resources: [bucketArn, `${bucketArn}/*`],
          condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
        },
        // An upload without encryption headers gets the bucket's default (this key). One that asks
        // for another algorithm, or names any key (only the default is allowed, and its ARN is
        // unknown until apply), is refused.
        {
          sid: "DenyOtherEncryption",
          effect: "Deny",
          principals: [{ type: "*", identifiers: ["*"] }],
          actions: ["s3:PutObject"],
          resources: [`${bucketArn}/*`],
          condition: [
            { test: "Null", variable: "s3:x-amz-server-side-encryption", values: ["false"] },
            { test: "StringNotEquals", variable: "s3:x-amz-server-side-encryption", values: ["aws:kms"] },
          ],
        },
        {
          sid: "DenyNamedKeys",
          effect: "Deny",
          principals: [{ type: "*", identifiers: ["*"] }],
          actions: ["s3:PutObject"],
          resources: [`${bucketArn}/*`],
          condition: [{ test: "Null", variable: "s3:x-amz-server-side-encryption-aws-kms-key-id", values: ["false"] }],
        },
        {
          sid: "DenyNodesDestructiveActions",
          effect: "Deny",
          principals: [{ type: "*", identifiers: ["*"] }],
          actions: NODE_DENIED_ACTIONS,
          resources: [bucketArn, `${bucketArn}/*`],
          condition: [{ test: "ArnLike", variable: "aws:PrincipalArn", values: [nodeRoles] }],
        },
      ],
    });
    new S3BucketPolicy(this, "policy", { bucket, policy: bucketPolicy.json, dependsOn: [this.bucket] });

    const holder = new DataAwsIamPolicyDocument(this, "holder-policy-document", {
      statement: [
        { sid: "PutSnapshots", effect: "Allow", actions: ["s3:PutObject"], resources: [`${bucketArn}/${BACKUP_OBJECT_PREFIX}/*`] },
        {
          // The freshness check lists the last two days' prefixes.
          sid: "ListSnapshots",
          effect: "Allow",
          actions: ["s3:ListBucket"],
          resources: [bucketArn],
          condition: [{ test: "StringLike", variable: "s3:prefix", values: [`${BACKUP_OBJECT_PREFIX}/*`] }],
        },
      ],
    });
    this.holderPolicy = new IamRolePolicy(this, "holder-policy", {
      name: "kubeadm-ha-etcd-backups",
      role: props.holderRole.name,
      policy: holder.json,
    });
  }
}
