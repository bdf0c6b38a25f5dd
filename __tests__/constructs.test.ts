/**
 * The cdktf stack as synthesized JSON, for the shipped clusters: node placement, hardening,
 * network isolation, KMS audiences, outputs and determinism.
 */
import * as fs from "fs";
import * as path from "path";
import { Testing } from "cdktf";
import { validateSpec } from "../lib/validate";
import { buildTopology, ClusterNode, NodeRole, Topology } from "../lib/topology";
import { ClusterStack, ClusterStackProps } from "../lib/cluster-stack";
import type { CniPort } from "../lib/constructs/security-groups";
import { escapeTerraformTemplate, unescapeTerraformTemplate } from "../lib/terraform-escape";
import { kmsAlias, parameterPrefix, SecretAudience } from "../lib/secret-store";
import { HEARTBEAT_ACTION, RUN_COMMAND_ACTIONS, SESSION_CHANNEL_ACTIONS } from "../lib/constructs/node-iam";
import { ebsOptimizedByDefault, instanceLaunchOptions } from "../lib/ec2";
import { inlineTopology, shippedTopology } from "./support/specs";
import { dependsOnTransitively } from "./support/depends-on";

const CLUSTERS_DIR = path.join(__dirname, "..", "clusters");
const CALICO: CniPort[] = [
  { protocol: "udp", port: 4789, description: "calico VXLAN" },
  { protocol: "tcp", port: 5473, description: "calico Typha" },
];
const userData = (node: ClusterNode) => `#cloud-config\n# ${node.name}\n`;

type Json = Record<string, any>;

/** How every ARN starts: the partition from its data source (and the account from caller identity). */
const ARN_PREFIX = "arn:${data.aws_partition.cluster_identity_partition_D44AA3FB.partition}";
const ACCOUNT = "${data.aws_caller_identity.cluster_identity_caller-identity_41AB0353.account_id}";

function loadTopology(name: string, edit: (text: string) => string = (text) => text): Topology {
  const file = path.join(CLUSTERS_DIR, `${name}.yaml`);
  const { spec, warnings } = validateSpec(file, name, edit(fs.readFileSync(file, "utf8")));
  return buildTopology(spec, warnings);
}

function synth(topology: Topology, extra: Partial<ClusterStackProps> = {}): { json: string; doc: Json; stack: ClusterStack } {
  const stack = new ClusterStack(Testing.app(), topology.stack, { topology, userData, cniPorts: CALICO, ...extra });
  const json = Testing.synth(stack);
  return { json, doc: JSON.parse(json), stack };
}

const resources = (doc: Json, type: string): [string, Json][] => Object.entries(doc.resource?.[type] ?? {});
const dataSources = (doc: Json, type: string): [string, Json][] => Object.entries(doc.data?.[type] ?? {});
/** "${aws_x.logical_id.attr}" -> "logical_id" */
const refId = (ref: string): string => {
  const match = /^\$\{(?:data\.)?[a-z0-9_]+\.([^.]+)\.[a-z_]+\}$/.exec(ref);
  if (!match) throw new Error(`not a plain reference: ${ref}`);
  return match[1];
};

/** Logical ID of each role's security group and IAM role, by their Name tags (<stack>-<role>). */
function byName(doc: Json, type: string, stack: string): Record<string, string> {
  return Object.fromEntries(resources(doc, type).map(([id, r]) => [String((r.tags as Json).Name).replace(`${stack}-`, ""), id]));
}

/** The IAM statements of a node role's inline policies. */
function roleStatements(doc: Json, roleIds: Record<string, string>, role: NodeRole): Json[] {
  const policies = Object.fromEntries(dataSources(doc, "aws_iam_policy_document"));
  return resources(doc, "aws_iam_role_policy")
    .map(([, policy]) => policy)
    .filter((policy) => policy.role === `\${aws_iam_role.${roleIds[role]}.name}`)
    .flatMap((policy) => policies[refId(policy.policy)].statement as Json[]);
}

const ROLE_COUNTS: Record<string, Partial<Record<NodeRole, number>>> = {
  "five-server": { "load-balancer": 1, "control-plane": 2, worker: 2 },
  "external-etcd": { "load-balancer": 1, "control-plane": 2, worker: 2, etcd: 3 },
};

describe.each(["five-server", "external-etcd"])("%s", (name) => {
  const topology = loadTopology(name);
  const { json, doc, stack } = synth(topology);
  const instances = resources(doc, "aws_instance").map(([, r]) => r);
  const sgIds = byName(doc, "aws_security_group", name);
  const roleIds = byName(doc, "aws_iam_role", name);

  test("one instance per topology node, by role", () => {
    const total = Object.values(ROLE_COUNTS[name]).reduce((a, b) => a + (b ?? 0), 0);
    expect(instances).toHaveLength(total);
    expect(instances).toHaveLength(topology.nodes.length);
    const counts: Record<string, number> = {};
    for (const instance of instances) counts[instance.tags.Role] = (counts[instance.tags.Role] ?? 0) + 1;
    expect(counts).toEqual(ROLE_COUNTS[name]);
  });

  test("private IPs are the topology's literals, in the node's zone subnet", () => {
    const subnets = Object.fromEntries(resources(doc, "aws_subnet").map(([id, r]) => [id, r]));
    for (const node of topology.nodes) {
      const instance = instances.find((i) => i.tags.Name === `${name}-${node.name}`);
      expect(instance).toBeDefined();
      expect(instance!.private_ip).toBe(node.privateIp);
      const subnet = subnets[refId(instance!.subnet_id)];
      expect(subnet.cidr_block).toBe(topology.zones[node.zoneIndex].privateSubnet);
      expect(subnet.availability_zone).toBe(node.availabilityZone);
      expect(instance!.tags).toEqual({ Name: `${name}-${node.name}`, Role: node.role, Cluster: name });
      expect(instance!.vpc_security_group_ids).toEqual([`\${aws_security_group.${sgIds[node.role]}.id}`]);
    }
  });

  test("every node boots after the egress, every security-group rule, the role policies and the KMS aliases, through one barrier", () => {
    const [[barrierId, barrier]] = resources(doc, "terraform_data").filter(([id]) => id.startsWith("cluster_boot-prerequisites_"));
    const expected = ["aws_route", "aws_route_table_association", "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule",
      "aws_iam_role_policy", "aws_kms_alias"]
      .flatMap((type) => resources(doc, type).map(([id]) => `${type}.${id}`))
      // The public subnets' routes and associations are not on a node's way out; the backup
      // bucket's policy and key are first used by a timer 5 minutes after boot (and retried).
      .filter((address) => !/public|etcd-backups/.test(address));
    expect(expected.length).toBeGreaterThan(25);
    expect([...barrier.depends_on].sort()).toEqual(expected.sort());
    for (const instance of instances) {
      expect(instance.depends_on).toEqual([`terraform_data.${barrierId}`]);
      expect([...dependsOnTransitively(doc, instance)]).toEqual(expect.arrayContaining(expected));
    }
  });

  test("IMDSv2 only (pods cannot reach it), encrypted gp3 root volume, no public address, AMI changes ignored", () => {
    for (const instance of instances) {
      expect(instance.metadata_options).toMatchObject({ http_tokens: "required", http_endpoint: "enabled", http_put_response_hop_limit: 1 });
      expect(instance.root_block_device).toMatchObject({ encrypted: true, volume_type: "gp3", volume_size: topology.spec.nodes.rootVolumeGiB });
      expect(instance.associate_public_ip_address).toBe(false);
      expect(instance.lifecycle.ignore_changes).toContain("ami");
      // Stateful nodes keep running through a template change; the stateless load balancer is
      // replaced so it always lists the current control-plane nodes.
      const isLoadBalancer = instance.tags.Role === "load-balancer";
      expect(instance.user_data_replace_on_change).toBe(isLoadBalancer);
      expect(instance.lifecycle.ignore_changes.includes("user_data")).toBe(!isLoadBalancer);
      expect(instance.ami).toMatch(/^\$\{data\.aws_ami\./);
      // t3: EBS-optimized by default, stated for scanners; standard credits, not t3's unlimited.
      expect(instance.instance_type).toMatch(/^t3\./);
      expect(instance.ebs_optimized).toBe(true);
      expect(instance.credit_specification).toEqual({ cpu_credits: "standard" });
      // Detailed monitoring is opt-in (nodes.detailedMonitoring), and stated either way.
      expect(instance.monitoring).toBe(false);
      // Changing it stops the instance: running nodes are left alone.
      expect(instance.lifecycle.ignore_changes).toContain("ebs_optimized");
    }
    const [[, ami]] = dataSources(doc, "aws_ami");
    expect(ami.owners).toEqual(["099720109477"]);
    expect(ami.most_recent).toBe(true);
    expect(ami.filter).toContainEqual({ name: "name", values: ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"] });
  });

  test("user_data is the function's text, verbatim", () => {
    for (const node of topology.nodes) {
      const instance = instances.find((i) => i.tags.Name === `${name}-${node.name}`)!;
      expect(instance.user_data).toBe(userData(node));
    }
  });

  test("no ingress from a CIDR, no SSH, no inline rules", () => {
    const ingress = resources(doc, "aws_vpc_security_group_ingress_rule").map(([, r]) => r);
    expect(ingress.length).toBeGreaterThan(0);
    for (const rule of ingress) {
      expect(rule.cidr_ipv4).toBeUndefined();
      expect(rule.cidr_ipv6).toBeUndefined();
      expect(rule.prefix_list_id).toBeUndefined();
      expect(rule.referenced_security_group_id).toMatch(/^\$\{aws_security_group\./);
      expect(rule.ip_protocol).not.toBe("-1");
      expect(rule.from_port <= 22 && 22 <= rule.to_port).toBe(false);
      expect(rule.description).toBeTruthy();
    }
    expect(json).not.toContain('"ingress":');
    for (const [, group] of resources(doc, "aws_security_group")) {
      expect(group.ingress).toBeUndefined();
      expect(group.egress).toBeUndefined();
    }
    expect(resources(doc, "aws_security_group_rule")).toHaveLength(0);
  });

  test("6443 on the control plane: the load balancer and the kubernetes Service's in-cluster clients, nothing else", () => {
    const ingress = resources(doc, "aws_vpc_security_group_ingress_rule").map(([, r]) => r);
    const sourcesOf = (role: NodeRole, port: number) =>
      ingress
        .filter((r) => refId(r.security_group_id) === sgIds[role] && r.from_port <= port && port <= r.to_port)
        .map((r) => Object.keys(sgIds).find((k) => sgIds[k] === refId(r.referenced_security_group_id)))
        .sort();
    // The load balancer is the only source that is not a Kubernetes node; control-plane and worker
    // nodes reach the API servers directly through the kubernetes Service (see security-groups.ts).
    expect(sourcesOf("control-plane", 6443)).toEqual(["control-plane", "load-balancer", "worker"]);
    expect(sourcesOf("load-balancer", 6443)).toEqual(["control-plane", "worker"]);
    expect(sourcesOf("worker", 6443)).toEqual([]);
    expect(sourcesOf("control-plane", 10250)).toContain("control-plane");
    expect(sourcesOf("worker", 10250)).toEqual(["control-plane"]);
    if (topology.etcd.topology === "external") {
      expect(sourcesOf("etcd", 2380)).toEqual(["etcd"]);
      expect(sourcesOf("etcd", 2379)).toEqual(["control-plane", "etcd"]);
      expect(sourcesOf("control-plane", 2379)).toEqual([]);
      expect(sourcesOf("etcd", 6443)).toEqual([]);
    } else {
      expect(sgIds.etcd).toBeUndefined();
      expect(sourcesOf("control-plane", 2379)).toEqual(["control-plane"]);
      expect(sourcesOf("control-plane", 2380)).toEqual(["control-plane"]);
    }
    expect(sourcesOf("worker", 4789)).toEqual(["control-plane", "worker"]);
    expect(sourcesOf("load-balancer", 4789)).toEqual([]);
  });

  test("KMS: only the audience's readers decrypt, only through Parameter Store", () => {
    const aliases = resources(doc, "aws_kms_alias").map(([, r]) => r);
    const keys = Object.fromEntries(resources(doc, "aws_kms_key"));
    const policies = Object.fromEntries(dataSources(doc, "aws_iam_policy_document"));
    const expectedReaders: Record<SecretAudience, NodeRole[]> = {
      join: ["control-plane", "worker"],
      "control-plane": ["control-plane"],
      etcd: topology.etcd.topology === "external" ? ["etcd"] : [],
    };
    for (const audience of Object.keys(expectedReaders) as SecretAudience[]) {
      const alias = aliases.find((a) => a.name === kmsAlias(name, audience));
      if (expectedReaders[audience].length === 0) {
        expect(alias).toBeUndefined();
        continue;
      }
      const key = keys[refId(alias!.target_key_id)];
      expect(key.enable_key_rotation).toBe(true);
      expect(key.deletion_window_in_days).toBeGreaterThanOrEqual(7);
      const statements: Json[] = policies[refId(key.policy)].statement;
      const principalsFor = (action: string) =>
        statements
          .filter((s) => s.actions.some((a: string) => a === action || a === "kms:*" || (a.endsWith("*") && action.startsWith(a.slice(0, -1)))))
          .flatMap((s) => s.principals.flatMap((p: Json) => p.identifiers as string[]));
      // Built from known parts (partition and account data sources, path, name), never from a role attribute.
      const roleRef = (role: NodeRole) => `${ARN_PREFIX}:iam::${ACCOUNT}:role/kubeadm-ha/${name}-eu-west-1-${role}`;
      const decrypters = principalsFor("kms:Decrypt");
      const roleDecrypters = decrypters.filter((p) => p.includes(":role/"));
      expect(roleDecrypters.sort()).toEqual(expectedReaders[audience].map(roleRef).sort());
      expect(decrypters).not.toContain(roleRef("load-balancer"));
      if (audience !== "join") expect(decrypters).not.toContain(roleRef("worker"));
      for (const statement of statements.filter((s) => s.actions.includes("kms:Decrypt"))) {
        const conditions = Object.fromEntries(statement.condition.map((c: Json) => [`${c.test} ${c.variable}`, c.values]));
        expect(conditions["StringEquals kms:ViaService"][0]).toMatch(/^ssm\.eu-west-1\./);
        // The account delegation (people and CI fetching admin.conf) excludes every node role.
        if (statement.principals[0].identifiers[0].endsWith(":root")) {
          expect(conditions["ArnNotLike aws:PrincipalArn"][0]).toMatch(/:role\/kubeadm-ha\/\*$/);
        }
      }
      const operators = decrypters.filter((p) => p.endsWith(":root"));
      expect(operators).toHaveLength(audience === "control-plane" ? 1 : 0);
      // The root statement that administers the key grants no cryptographic use, and no node role
      // may administer (CreateGrant, PutKeyPolicy) whatever its IAM policies say; root keeps recovery.
      const admin = statements.find((s) => s.sid === "AccountAdministersKey")!;
      expect(admin.actions.filter((a: string) => /^kms:(Decrypt|Encrypt|GenerateDataKey|ReEncrypt|\*)/.test(a))).toEqual([]);
      expect(admin.actions).toEqual(expect.arrayContaining(["kms:Create*", "kms:Put*", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"]));
      expect(admin.principals).toEqual([{ type: "AWS", identifiers: [`${ARN_PREFIX}:iam::${ACCOUNT}:root`] }]);
      expect(admin.condition).toEqual([{ test: "ArnNotLike", variable: "aws:PrincipalArn", values: [`${ARN_PREFIX}:iam::${ACCOUNT}:role/kubeadm-ha/*`] }]);
      // Every statement that names the account grants it to people and CI only, never to node roles.
      for (const statement of statements.filter((s) => s.principals[0].identifiers[0].endsWith(":root"))) {
        expect(statement.condition).toContainEqual(admin.condition[0]);
      }
      // The named roles must exist before KMS accepts the policy.
      const named = new Set(statements.flatMap((s) => s.principals[0].identifiers as string[]).filter((p) => p.includes(":role/")));
      expect(key.depends_on.sort()).toEqual(
        [...named].map((arn) => `aws_iam_role.${roleIds[arn.split(`/${name}-eu-west-1-`)[1] as NodeRole]}`).sort(),
      );
    }
    for (const [, role] of resources(doc, "aws_iam_role")) expect(role.path).toBe("/kubeadm-ha/");
  });

  test("IAM: Session Manager without AmazonSSMManagedInstanceCore; the load balancer reads no parameter", () => {
    expect(json).not.toContain("AmazonSSMManagedInstanceCore");
    expect(resources(doc, "aws_iam_role_policy_attachment")).toHaveLength(0);
    const statementsOf = (role: NodeRole) => roleStatements(doc, roleIds, role);
    const ssmResources = (role: NodeRole) =>
      statementsOf(role).filter((s) => s.actions.some((a: string) => a.startsWith("ssm:Get"))).flatMap((s) => s.resources as string[]);
    expect(ssmResources("load-balancer")).toEqual([]);
    expect(ssmResources("worker").every((arn) => arn.includes(`parameter${parameterPrefix(name, "join")}`))).toBe(true);
    for (const role of Object.keys(roleIds) as NodeRole[]) {
      const actions = statementsOf(role).flatMap((s) => s.actions as string[]);
      expect(actions.filter((a) => a.startsWith("kms:"))).toEqual([]);
      // Actions listed, never wildcarded (AVD-AWS-0057, CKV_AWS_111/290).
      expect(actions.filter((a) => a.includes("*"))).toEqual([]);
      expect(actions).toEqual(expect.arrayContaining([...SESSION_CHANNEL_ACTIONS, ...RUN_COMMAND_ACTIONS, HEARTBEAT_ACTION]));
      // Only the channel actions, which define no resource type, take "*" (CKV_AWS_356).
      for (const statement of statementsOf(role).filter((s) => s.resources.includes("*"))) {
        expect(statement.actions.every((a: string) => /^(ssmmessages|ec2messages):[A-Za-z]+$/.test(a))).toBe(true);
        expect(statement.resources).toEqual(["*"]);
      }
      // The heartbeat only for this cluster's instances of this role.
      const heartbeat = statementsOf(role).filter((s) => s.actions.includes(HEARTBEAT_ACTION));
      expect(heartbeat).toHaveLength(1);
      expect(heartbeat[0].actions).toEqual([HEARTBEAT_ACTION]);
      expect(heartbeat[0].resources).toEqual([`${ARN_PREFIX}:ec2:${topology.spec.region}:${ACCOUNT}:instance/*`]);
      expect(heartbeat[0].condition).toEqual([
        { test: "StringEquals", variable: "aws:ResourceTag/Cluster", values: [name] },
        { test: "StringEquals", variable: "aws:ResourceTag/Role", values: [role] },
      ]);
      // ...which are exactly the tags every instance of the role carries.
      for (const instance of instances.filter((i) => i.tags.Role === role)) expect(instance.tags).toMatchObject({ Cluster: name, Role: role });
    }
    // Without Session Manager preferences in the spec, no KMS, S3 or CloudWatch permission at all
    // (the etcd backup bucket's own policies aside: lib/constructs/backup-bucket.ts, tested below).
    const withoutBackups = JSON.parse(json);
    for (const type of Object.values(withoutBackups.data ?? {}) as Record<string, unknown>[]) {
      for (const id of Object.keys(type)) if (id.startsWith("cluster_etcd-backups_")) delete type[id];
    }
    expect(JSON.stringify(withoutBackups)).not.toMatch(/"(s3|logs):[A-Za-z]+"/);
  });

  test("policy documents name nothing Terraform only knows after apply: plans show their text", () => {
    for (const [id, document] of dataSources(doc, "aws_iam_policy_document")) {
      const references = JSON.stringify(document.statement).match(/\$\{[^}]+\}/g) ?? [];
      expect({ id, unknown: references.filter((ref) => !/^\$\{data\.aws_(partition|caller_identity)\./.test(ref)) }).toEqual({ id, unknown: [] });
    }
  });

  test("IAM: the etcd role may write only the etcd client material of the control-plane audience", () => {
    const statementsOf = (role: NodeRole) => roleStatements(doc, roleIds, role);
    const writable = (role: NodeRole) =>
      statementsOf(role).filter((s) => s.actions.includes("ssm:PutParameter")).flatMap((s) => s.resources as string[]);
    const controlPlanePrefix = `parameter${parameterPrefix(name, "control-plane")}`;
    if (topology.etcd.topology === "external") {
      expect(writable("etcd").filter((arn) => arn.includes(controlPlanePrefix)).map((arn) => arn.split(controlPlanePrefix)[1]))
        .toEqual(["/pki/etcd/ca.crt", "/pki/apiserver-etcd-client.crt", "/pki/apiserver-etcd-client.key"]);
    }
    expect(writable("control-plane").filter((arn) => arn.includes(controlPlanePrefix)).map((arn) => arn.split(controlPlanePrefix)[1])).toEqual(["/*"]);
    expect(writable("worker")).toEqual([]);
    for (const role of Object.keys(roleIds) as NodeRole[]) {
      const ssmActions = statementsOf(role).flatMap((s) => s.actions as string[]).filter((a) => a.startsWith("ssm:") && a !== "ssm:UpdateInstanceInformation");
      expect(ssmActions.filter((a) => !["ssm:GetParameter", "ssm:GetParameters", "ssm:PutParameter", "ssm:DeleteParameter"].includes(a))).toEqual([]);
      // Deleting: only control-plane nodes, only the join lease (released after each control-plane join).
      const deletable = statementsOf(role).filter((s) => s.actions.includes("ssm:DeleteParameter")).flatMap((s) => s.resources as string[]);
      expect(deletable.map((arn) => arn.split(controlPlanePrefix)[1])).toEqual(role === "control-plane" ? ["/join-lease"] : []);
    }
  });

  test("outputs: endpoint, addresses and instance IDs, nothing secret", () => {
    expect(doc.output.api_endpoint.value).toBe(topology.controlPlaneEndpoint);
    for (const node of topology.nodes) expect(doc.output.private_ips.value[node.role][node.name]).toBe(node.privateIp);
    const lb = instances.find((i) => i.tags.Name === `${name}-${topology.loadBalancer!.name}`);
    expect(lb).toBeDefined();
    expect(doc.output.load_balancer_instance_id.value).toMatch(/^\$\{aws_instance\.[^.]*lb-1[^.]*\.id\}$/);
    expect(doc.output.init_node_instance_id.value).toMatch(/^\$\{aws_instance\.[^.]*control-plane-1[^.]*\.id\}$/);
    expect(doc.output.parameter_prefixes.value.join).toBe(parameterPrefix(name, "join"));
    const outputs = JSON.stringify(Object.values(doc.output).map((output: any) => output.value));
    expect(outputs).not.toMatch(/user_data|cloud-config|private_key|token|password/i);
    for (const node of topology.nodes) expect(outputs).not.toContain(userData(node).trim());
    // Every reference in an output is an instance ID or the backup bucket's name.
    for (const ref of outputs.match(/\$\{[^}]*\}/g) ?? []) expect(ref).toMatch(/^\$\{(aws_instance\.[^.]+\.id|aws_s3_bucket\.cluster_etcd-backups_bucket_[^.]+\.bucket)\}$/);
  });

  test("provider region and default tags; local backend by default", () => {
    expect(doc.provider.aws[0].region).toBe(topology.spec.region);
    expect(doc.provider.aws[0].default_tags[0].tags).toMatchObject({ Cluster: name, ManagedBy: "kubeadm-ha" });
    // Beside the output folder, never inside it: cdktf and `rm -rf cdktf.out` delete that.
    expect(doc.terraform.backend).toEqual({ local: { path: `../../../state/${name}.tfstate` } });
    expect(doc.terraform.required_version).toBe(">= 1.10");
  });

  test("topology warnings become synth warnings", () => {
    const warnings = stack.node.metadata.filter((m) => m.type === "@cdktf/warn").map((m) => m.data);
    expect(warnings).toEqual(topology.warnings);
    expect(warnings.length).toBeGreaterThan(0);
  });

  test("deterministic: a second synthesis is byte-identical", () => {
    expect(synth(loadTopology(name)).json).toBe(json);
  });
});

describe("options and validation", () => {
  const topology = loadTopology("five-server");

  test("user data with shell and template markers reaches the instance unchanged", () => {
    const text = '#!/bin/bash\necho "${HOME}" %{x} $${y} 100%\n';
    const { doc } = synth(topology, { userData: () => text });
    for (const [, instance] of resources(doc, "aws_instance")) {
      expect(instance.user_data).toBe(escapeTerraformTemplate(text));
      expect(unescapeTerraformTemplate(instance.user_data)).toBe(text);
    }
    expect(escapeTerraformTemplate(text)).toBe('#!/bin/bash\necho "$${HOME}" %%{x} $$${y} 100%\n');
  });

  test("S3 backend: encrypted, locked with S3 native locking or DynamoDB", () => {
    const lockfile = synth(topology, { backend: { kind: "s3", bucket: "team-state" } }).doc.terraform.backend.s3;
    expect(lockfile).toEqual({
      bucket: "team-state",
      key: "kubeadm-ha/five-server/terraform.tfstate",
      region: "eu-west-1",
      encrypt: true,
      use_lockfile: true,
    });
    const dynamo = synth(topology, { backend: { kind: "s3", bucket: "team-state", key: "k/state", region: "us-east-1", dynamodbTable: "locks" } })
      .doc.terraform.backend.s3;
    expect(dynamo).toEqual({ bucket: "team-state", key: "k/state", region: "us-east-1", encrypt: true, dynamodb_table: "locks" });
    expect(() => synth(topology, { backend: { kind: "s3", bucket: "Bad_Bucket" } })).toThrow(/backend\.bucket/);
  });

  test("perZone NAT gateways: each zone's private route uses its own", () => {
    const perZone = loadTopology("five-server", (text) => text.replace("  serviceSubnet: 10.96.0.0/12", "  serviceSubnet: 10.96.0.0/12\n  natGateways: perZone"));
    const { doc } = synth(perZone);
    const nats = resources(doc, "aws_nat_gateway");
    expect(nats).toHaveLength(perZone.zones.length);
    const routes = resources(doc, "aws_route").map(([, r]) => r).filter((r) => r.nat_gateway_id);
    expect(new Set(routes.map((r) => r.nat_gateway_id)).size).toBe(perZone.zones.length);
    const single = resources(synth(topology).doc, "aws_nat_gateway");
    expect(single).toHaveLength(1);
  });

  test("a pinned AMI skips the lookup", () => {
    const pinned = loadTopology("five-server", (text) => `${text}\nnodes:\n  amiId: ami-0123456789abcdef0\n`);
    const { doc } = synth(pinned);
    expect(dataSources(doc, "aws_ami")).toHaveLength(0);
    for (const [, instance] of resources(doc, "aws_instance")) expect(instance.ami).toBe("ami-0123456789abcdef0");
  });

  test("the Ubuntu lookup asks Canonical's account of the region's partition", () => {
    const owners = (region: string) => {
      const regional = loadTopology("five-server", (text) => text.replace("region: eu-west-1", `region: ${region}`).replace(/network:\n/, `network:\n  availabilityZones: [${region}a, ${region}b]\n`));
      return dataSources(synth(regional).doc, "aws_ami")[0][1].owners;
    };
    expect(owners("us-east-1")).toEqual(["099720109477"]);
    expect(owners("cn-north-1")).toEqual(["837727238323"]);
    expect(owners("us-gov-west-1")).toEqual(["513442679011"]);
  });

  test("Session Manager preferences: the session key, the log bucket and the log group, each scoped", () => {
    const key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const withPreferences = loadTopology("five-server", (text) =>
      `${text}\nsessionManager:\n  kmsKeyArn: "${key}"\n  logging: {s3Bucket: audit-logs, s3KeyPrefix: ssm/sessions, cloudWatchLogGroup: /aws/ssm/sessions}\n`);
    const { doc } = synth(withPreferences);
    const roleIds = byName(doc, "aws_iam_role", "five-server");
    for (const role of Object.keys(roleIds) as NodeRole[]) {
      const statements = Object.fromEntries(roleStatements(doc, roleIds, role).map((st) => [st.sid, st]));
      expect(statements.SessionEncryptionKey).toMatchObject({ actions: ["kms:Decrypt", "kms:GenerateDataKey"], resources: [key] });
      expect(statements.SessionLogsToS3).toMatchObject({ actions: ["s3:PutObject"], resources: [`${ARN_PREFIX}:s3:::audit-logs/ssm/sessions/*`] });
      expect(statements.SessionLogsBucketEncryption).toMatchObject({ actions: ["s3:GetEncryptionConfiguration"], resources: [`${ARN_PREFIX}:s3:::audit-logs`] });
      expect(statements.SessionLogsToCloudWatch).toMatchObject({
        actions: ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
        resources: [`${ARN_PREFIX}:logs:eu-west-1:${ACCOUNT}:log-group:/aws/ssm/sessions:*`],
      });
      expect(statements.SessionLogsFindLogGroup).toMatchObject({ actions: ["logs:DescribeLogGroups"], resources: ["*"] });
    }
    const bucketOnly = loadTopology("five-server", (text) => `${text}\nsessionManager: {logging: {s3Bucket: audit-logs}}\n`);
    const bucketDoc = synth(bucketOnly).doc;
    const workerStatements = roleStatements(bucketDoc, byName(bucketDoc, "aws_iam_role", "five-server"), "worker");
    expect(workerStatements.find((st) => st.sid === "SessionLogsToS3")!.resources).toEqual([`${ARN_PREFIX}:s3:::audit-logs/*`]);
    expect(workerStatements.map((st) => st.sid)).not.toContain("SessionLogsToCloudWatch");
    expect(workerStatements.map((st) => st.sid)).not.toContain("SessionEncryptionKey");
  });

  test("nodes.detailedMonitoring turns on 1-minute metrics on every node", () => {
    const monitored = loadTopology("five-server", (text) => `${text}\nnodes: {detailedMonitoring: true}\n`);
    for (const [, instance] of resources(synth(monitored).doc, "aws_instance")) expect(instance.monitoring).toBe(true);
  });

  test("CPU credits only on burstable types, EBS optimization only where it is the default", () => {
    const mixed = loadTopology("five-server", (text) =>
      text.replace("workers:\n  count: 2\n  instanceType: t3.medium", "workers:\n  count: 2\n  instanceType: m5.large")
        .replace("loadBalancer:\n  kind: haproxy\n  instanceType: t3.small", "loadBalancer:\n  kind: haproxy\n  instanceType: t2.small") +
      "\nnodes: {cpuCredits: unlimited}\n");
    const byRole = Object.fromEntries(resources(synth(mixed).doc, "aws_instance").map(([, i]) => [i.tags.Role, i]));
    expect(byRole["control-plane"]).toMatchObject({ ebs_optimized: true, credit_specification: { cpu_credits: "unlimited" } });
    expect(byRole.worker.ebs_optimized).toBe(true);
    expect(byRole.worker.credit_specification).toBeUndefined();
    // t2 cannot be EBS-optimized: the attribute is left out, not set false.
    expect(byRole["load-balancer"].ebs_optimized).toBeUndefined();
    expect(byRole["load-balancer"].credit_specification).toEqual({ cpu_credits: "unlimited" });

    const launch = (type: string, cpuCredits: "standard" | "unlimited", detailedMonitoring = false) =>
      instanceLaunchOptions(type, { cpuCredits, detailedMonitoring });

    expect(launch("t3.medium", "standard")).toEqual({ ebsOptimized: true, cpuCredits: "standard", monitoring: false });
    expect(launch("t4g.small", "unlimited")).toEqual({ ebsOptimized: true, cpuCredits: "unlimited", monitoring: false });
    expect(launch("t3a.large", "standard")).toEqual({ ebsOptimized: true, cpuCredits: "standard", monitoring: false });
    expect(launch("t2.micro", "standard")).toEqual({ cpuCredits: "standard", monitoring: false });
    expect(launch("c7i.xlarge", "standard", true)).toEqual({ ebsOptimized: true, monitoring: true });
    expect(launch("m3.xlarge", "standard")).toEqual({ monitoring: false });
    for (const type of ["m4.large", "c4.xlarge", "d2.xlarge", "r6i.large", "m7g.medium", "x2iedn.xlarge"]) expect(ebsOptimizedByDefault(type)).toBe(true);
    for (const type of ["t1.micro", "t2.medium", "m1.large", "m3.medium", "c3.large", "r3.large", "i2.xlarge", "g2.2xlarge"]) expect(ebsOptimizedByDefault(type)).toBe(false);
  });

  test("rejects SSH or duplicate CNI ports and oversized user data", () => {
    expect(() => synth(topology, { cniPorts: [{ protocol: "tcp", port: 22, description: "ssh" }] })).toThrow(/SSH/);
    expect(() => synth(topology, { cniPorts: [...CALICO, CALICO[0]] })).toThrow(/twice/);
    expect(() => synth(topology, { userData: () => require("crypto").randomBytes(20000).toString("hex") })).toThrow(/even gzip-compressed; EC2 accepts less than 16384/);
  });
});

describe("etcd backup bucket", () => {
  const resourcesOf = (stack: string) => {
    const json = JSON.parse(Testing.synth(new ClusterStack(Testing.app(), stack, {
      topology: shippedTopology(stack),
      userData: () => "#cloud-config\n",
      cniPorts: [],
    }))) as { resource: Record<string, Record<string, Record<string, unknown>>>; data: Record<string, Record<string, { statement: Record<string, unknown>[] }>> };
    return json;
  };
  test.each(["five-server", "external-etcd"])("%s: versioned, SSE-KMS with its own key, private, TLS only, retained, protected from destroy", (stack) => {
    const json = resourcesOf(stack);
    const [bucket] = Object.values(json.resource.aws_s3_bucket);
    expect(bucket.bucket).toMatch(new RegExp(`^${stack}-etcd-\\$\\{data\\.aws_caller_identity\\.[^.]+\\.account_id\\}-eu-west-1$`));
    expect(bucket.lifecycle).toEqual({ prevent_destroy: true });
    const keys = Object.values(json.resource.aws_kms_key).filter((key) => String(key.description).endsWith("etcd backups"));
    expect(keys).toHaveLength(1);
    expect(keys[0].lifecycle).toEqual({ prevent_destroy: true });
    expect(JSON.stringify(json.resource.aws_s3_bucket_versioning)).toContain('"status":"Enabled"');
    expect(JSON.stringify(json.resource.aws_s3_bucket_server_side_encryption_configuration)).toMatch(/"kms_master_key_id":"\$\{aws_kms_key\.cluster_etcd-backups_key_[^"]+\.arn\}","sse_algorithm":"aws:kms"/);
    const block = Object.values(json.resource.aws_s3_bucket_public_access_block)[0];
    expect([block.block_public_acls, block.block_public_policy, block.ignore_public_acls, block.restrict_public_buckets]).toEqual([true, true, true, true]);
    const lifecycle = JSON.stringify(json.resource.aws_s3_bucket_lifecycle_configuration);
    expect(lifecycle).toContain('"days":30');
    expect(lifecycle).toContain('"noncurrent_days":30');
    const documents = json.data.aws_iam_policy_document;
    const bucketPolicy = Object.entries(documents).find(([id]) => id.includes("bucket-policy-document"))![1];
    expect(bucketPolicy.statement.map((statement) => statement.sid)).toEqual(["DenyInsecureTransport", "DenyOtherEncryption", "DenyNamedKeys", "DenyNodesDestructiveActions"]);
    // The holders (the etcd members' role) put and list, never read or delete.
    const holder = Object.entries(documents).find(([id]) => id.includes("holder-policy-document"))![1];
    const actions = holder.statement.flatMap((statement) => statement.actions as string[]);
    expect(actions.sort()).toEqual(["s3:ListBucket", "s3:PutObject"]);
    const holderRole = stack === "external-etcd" ? "etcd" : "control-plane";
    const rolePolicy = Object.values(json.resource.aws_iam_role_policy).find((policy) => policy.name === "kubeadm-ha-etcd-backups")!;
    expect(rolePolicy.role).toContain(`cluster_identity_${holderRole}-role`);
  });

  test("no bucket with backups.enabled false", () => {
    const topology = inlineTopology("no-backups", "backups: {enabled: false}\n");
    const json = JSON.parse(Testing.synth(new ClusterStack(Testing.app(), "no-backups", { topology, userData: () => "#cloud-config\n", cniPorts: [] })));
    expect(json.resource.aws_s3_bucket).toBeUndefined();
  });
});
