/**
 * Least privilege where it is free (issue 8 §4): narrowed egress of the load-balancer and etcd
 * groups, the empty default security group, network.vpcEndpoints and network.flowLogs, with their
 * validation, warnings, review and failure analysis.
 */
import * as fs from "fs";
import * as path from "path";
import { Testing } from "cdktf";
import { SpecError, specWarnings, validateSpec } from "../lib/validate";
import type { ClusterNode, Topology } from "../lib/topology";
import { ClusterStack } from "../lib/cluster-stack";
import { analyzeFailures } from "../lib/failure-analysis";
import { buildHaReport } from "../lib/ha-report";
import { securityRulesOf } from "../lib/security-rules";
import { endpointServiceName, INTERFACE_ENDPOINT_SERVICES } from "../lib/vpc-endpoints";
import { shippedSynthOutdir } from "./support/shipped-synth";
import { dependsOnTransitively } from "./support/depends-on";
import { renderCluster } from "../lib/render/cluster";
import { dynamicHostStart, reservedHostBlocks } from "../lib/addressing";
import { mustParseCidr } from "../lib/cidr";
import { renderReviewBundle } from "../lib/review";
import { renderPolicyReview } from "../lib/review-policies";
import { inlineTopology, shippedTopology, SHIPPED_CLUSTERS } from "./support/specs";

type Json = Record<string, any>;

// Several describe blocks read the same shipped stacks: each distinct spec is synthesized once
// per file (the tests only read the result).
const synthesized = new Map<string, Json>();
function synth(topology: Topology): Json {
  const key = JSON.stringify(topology.spec);
  let doc = synthesized.get(key);
  if (doc === undefined) {
    const userData = (node: ClusterNode) => `#cloud-config\n# ${node.name}\n`;
    doc = JSON.parse(Testing.synth(new ClusterStack(Testing.app(), topology.stack, { topology, userData }))) as Json;
    synthesized.set(key, doc);
  }
  return doc;
}
const resources = (doc: Json, type: string): [string, Json][] => Object.entries(doc.resource?.[type] ?? {});
const ref = (type: string, id: string, attr = "id") => `\${${type}.${id}.${attr}}`;

function errorsOf(yamlText: string): string[] {
  try {
    validateSpec("clusters/bad.yaml", "bad", yamlText);
  } catch (error) {
    expect(error).toBeInstanceOf(SpecError);
    return (error as SpecError).message.split("\n");
  }
  throw new Error("spec was accepted");
}

/** Security group logical IDs by their Name tag without the stack prefix. */
function groupIds(doc: Json, stack: string): Record<string, string> {
  return Object.fromEntries(resources(doc, "aws_security_group").map(([id, group]) => [String(group.tags.Name).replace(`${stack}-`, ""), id]));
}


describe.each([...SHIPPED_CLUSTERS])("%s: egress", (name) => {
  const topology = shippedTopology(name);
  const doc = synth(topology);
  const groups = groupIds(doc, name);
  const egress = resources(doc, "aws_vpc_security_group_egress_rule").map(([, rule]) => rule);
  const egressOf = (group: string) => egress.filter((rule) => rule.security_group_id === ref("aws_security_group", groups[group]));

  test("no all-protocol egress to 0.0.0.0/0 from the load-balancer and etcd groups", () => {
    for (const group of ["load-balancer", "etcd"].filter((g) => groups[g])) {
      const rules = egressOf(group);
      expect(rules.length).toBeGreaterThan(0);
      for (const rule of rules) {
        expect({ group, protocol: rule.ip_protocol }).not.toEqual({ group, protocol: "-1" });
        if (rule.cidr_ipv4 !== undefined) expect(["tcp/443", "tcp/80", "udp/123"]).toContain(`${rule.ip_protocol}/${rule.from_port}`);
      }
    }
  });

  test("the load balancer reaches the control plane on 6443 only; etcd reaches its peers on 2379-2380", () => {
    const toGroups = (group: string) =>
      egressOf(group).filter((rule) => rule.referenced_security_group_id).map((rule) => [rule.ip_protocol, rule.from_port, rule.to_port, rule.referenced_security_group_id]);
    expect(toGroups("load-balancer")).toEqual([["tcp", 6443, 6443, ref("aws_security_group", groups["control-plane"])]]);
    if (groups.etcd) expect(toGroups("etcd")).toEqual([["tcp", 2379, 2380, ref("aws_security_group", groups.etcd)]]);
  });

  test("an NLB gets no internet egress; a load-balancer node gets 443, 80 and NTP", () => {
    const cidrPorts = egressOf("load-balancer").filter((rule) => rule.cidr_ipv4).map((rule) => `${rule.from_port}/${rule.ip_protocol}`).sort();
    expect(cidrPorts).toEqual(topology.loadBalancerKind.runsOnNode ? ["123/udp", "443/tcp", "80/tcp"] : []);
  });

  test("Kubernetes nodes keep all egress (pods reach arbitrary destinations)", () => {
    for (const group of ["control-plane", "worker"]) {
      expect(egressOf(group).map((rule) => [rule.ip_protocol, rule.cidr_ipv4])).toEqual([["-1", "0.0.0.0/0"]]);
    }
  });

  test("the VPC's default security group is managed and has no rule", () => {
    const defaults = resources(doc, "aws_default_security_group");
    expect(defaults).toHaveLength(1);
    const [, group] = defaults[0];
    expect(group.vpc_id).toMatch(/^\$\{aws_vpc\./);
    expect(group.ingress).toBeUndefined();
    expect(group.egress).toBeUndefined();
  });

  test("the review's rules are the synthesized ones, egress included", () => {
    const rules = securityRulesOf(doc);
    expect(rules.filter((rule) => rule.direction === "egress")).toHaveLength(egress.length);
    expect(rules.some((rule) => rule.direction === "egress" && rule.group === "load-balancer" && rule.protocol === "all")).toBe(false);
  });
});

describe.each([...SHIPPED_CLUSTERS])("%s: static node addresses", (name) => {
  const topology = shippedTopology(name);
  const doc = synth(topology);
  const reservations = resources(doc, "aws_ec2_subnet_cidr_reservation");
  const reservationRefs = reservations.map(([id]) => `aws_ec2_subnet_cidr_reservation.${id}`);
  const inRange = (ip: string, cidr: string) => {
    const toInt = (a: string) => a.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
    const [base, bits] = cidr.split("/");
    const size = 2 ** (32 - Number(bits));
    return toInt(ip) >= toInt(base) && toInt(ip) < toInt(base) + size;
  };

  test("every private subnet reserves the static hosts for explicit assignment, and every planned address is in it", () => {
    const privateSubnets = resources(doc, "aws_subnet").filter(([, subnet]) => subnet.tags.Tier === "private").map(([id]) => ref("aws_subnet", id));
    for (const subnet of privateSubnets) expect(reservations.some(([, r]) => r.subnet_id === subnet)).toBe(true);
    for (const [, reservation] of reservations) expect(reservation.reservation_type).toBe("explicit");
    for (const node of topology.nodes) {
      expect(reservations.some(([, r]) => inRange(node.privateIp, r.cidr_block))).toBe(true);
    }
  });

  test("what EC2 gives an address by itself in the private subnets waits for the reservations", () => {
    const interfaceEndpoints = resources(doc, "aws_vpc_endpoint").filter(([, e]) => e.vpc_endpoint_type === "Interface");
    const internalNlbs = resources(doc, "aws_lb").filter(([, lb]) => lb.internal === true);
    const groups = resources(doc, "aws_autoscaling_group");
    for (const [, dependent] of [...interfaceEndpoints, ...internalNlbs, ...groups]) {
      expect(dependent.depends_on).toEqual(expect.arrayContaining(reservationRefs));
    }
    if (name === "production") expect(interfaceEndpoints.length * internalNlbs.length * groups.length).toBeGreaterThan(0);
  });
});

describe("room for what EC2 places by itself above the reserved static hosts", () => {
  // A /22 VPC gives /25 private subnets; 25 static workers per zone push the reservation to host 128.
  const crowdedNetwork = "vpcCidr: 10.0.0.0/22, availabilityZones: [eu-west-1a, eu-west-1b]";
  const crowded = `controlPlane: {count: 3}\nworkers: {count: 50}\nnetwork: {${crowdedNetwork}}\n`;

  test("an NLB or VPC endpoints with no free address left is refused on workers.count, naming what needs the room", () => {
    expect(errorsOf(`${crowded}loadBalancer: {kind: nlb}\n`)).toEqual([
      expect.stringMatching(/^clusters\/bad\.yaml: workers\.count: 50: network\.vpcCidr 10\.0\.0\.0\/22: .* leave 0 per zone, and 8 for the AWS Network Load Balancer need 8; /),
    ]);
    expect(errorsOf(`controlPlane: {count: 3}\nworkers: {count: 50}\nnetwork: {${crowdedNetwork}, vpcEndpoints: true}\n`)).toEqual([
      expect.stringMatching(/workers\.count: 50: .* and 5 for the VPC endpoints need 5; /),
    ]);
  });

  test("a load-balancer node needs no such room", () => {
    expect(() => validateSpec("clusters/ok.yaml", "ok", crowded)).not.toThrow();
  });

  test("the reservation never covers the subnet's last address, which AWS keeps", () => {
    const subnet = mustParseCidr("10.0.0.0/25");
    const blocks = reservedHostBlocks(subnet, dynamicHostStart(2, 50));
    expect(dynamicHostStart(2, 50)).toBe(128);
    expect(blocks[blocks.length - 1]).toBe("10.0.0.126/32");
    expect(reservedHostBlocks(subnet, 64)).toEqual(["10.0.0.4/30", "10.0.0.8/29", "10.0.0.16/28", "10.0.0.32/27"]);
  });
});

describe("network.vpcEndpoints", () => {
  const topology = shippedTopology("production");
  const doc = synth(topology);
  const endpoints = resources(doc, "aws_vpc_endpoint");
  const privateSubnets = resources(doc, "aws_subnet").filter(([, subnet]) => subnet.tags.Tier === "private").map(([id]) => ref("aws_subnet", id));
  const privateTables = resources(doc, "aws_route_table").filter(([, table]) => /-private-/.test(table.tags.Name)).map(([id]) => ref("aws_route_table", id));

  test("an interface endpoint per service in every zone's private subnet, with private DNS and its own group", () => {
    const interfaces = endpoints.filter(([, e]) => e.vpc_endpoint_type === "Interface").map(([, e]) => e);
    expect(interfaces.map((e) => e.service_name).sort()).toEqual(INTERFACE_ENDPOINT_SERVICES.map((s) => `com.amazonaws.eu-west-1.${s}`).sort());
    const group = resources(doc, "aws_security_group").find(([, g]) => g.tags.Name === "production-vpc-endpoints")!;
    expect(group).toBeDefined();
    expect(privateSubnets).toHaveLength(3);
    for (const endpoint of interfaces) {
      expect(endpoint.subnet_ids).toEqual(privateSubnets);
      expect(endpoint.private_dns_enabled).toBe(true);
      expect(endpoint.security_group_ids).toEqual([ref("aws_security_group", group[0])]);
    }
    const ingress = resources(doc, "aws_vpc_security_group_ingress_rule").filter(([, r]) => r.security_group_id === ref("aws_security_group", group[0]));
    expect(ingress.map(([, r]) => [r.ip_protocol, r.from_port, r.to_port, r.cidr_ipv4])).toEqual([["tcp", 443, 443, "10.2.0.0/16"]]);
    const egress = resources(doc, "aws_vpc_security_group_egress_rule").filter(([, r]) => r.security_group_id === ref("aws_security_group", group[0]));
    expect(egress).toEqual([]);
  });

  test("an S3 gateway endpoint on every private route table, not the public one", () => {
    const gateways = endpoints.filter(([, e]) => e.vpc_endpoint_type === "Gateway").map(([, e]) => e);
    expect(gateways).toHaveLength(1);
    expect(gateways[0].service_name).toBe("com.amazonaws.eu-west-1.s3");
    expect(privateTables).toHaveLength(3);
    expect(gateways[0].route_table_ids).toEqual(privateTables);
  });

  test("nodes boot after the endpoints exist", () => {
    const endpointRefs = endpoints.map(([id]) => `aws_vpc_endpoint.${id}`);
    for (const [, instance] of resources(doc, "aws_instance")) expect([...dependsOnTransitively(doc, instance)]).toEqual(expect.arrayContaining(endpointRefs));
  });

  test("none by default", () => {
    expect(resources(synth(shippedTopology("five-server")), "aws_vpc_endpoint")).toEqual([]);
  });

  test("service names follow the partition: China prefixes sts with cn.; the S3 gateway endpoint keeps com.amazonaws", () => {
    expect(endpointServiceName("cn-north-1", "ssm")).toBe("com.amazonaws.cn-north-1.ssm");
    expect(endpointServiceName("cn-northwest-1", "sts")).toBe("cn.com.amazonaws.cn-northwest-1.sts");
    expect(endpointServiceName("cn-north-1", "s3")).toBe("com.amazonaws.cn-north-1.s3");
    expect(endpointServiceName("us-gov-west-1", "kms")).toBe("com.amazonaws.us-gov-west-1.kms");
    const china = synth(inlineTopology("china", "region: cn-north-1\nnetwork: {availabilityZones: [cn-north-1a, cn-north-1b], vpcEndpoints: true}\n"));
    expect(resources(china, "aws_vpc_endpoint").map(([, e]) => e.service_name).sort()).toEqual([
      "cn.com.amazonaws.cn-north-1.sts",
      "com.amazonaws.cn-north-1.ec2messages",
      "com.amazonaws.cn-north-1.kms",
      "com.amazonaws.cn-north-1.s3",
      "com.amazonaws.cn-north-1.ssm",
      "com.amazonaws.cn-north-1.ssmmessages",
    ]);
  });

  test("a cost warning names the endpoint-hours; strict mode leaves it a warning", () => {
    const warning = specWarnings(topology.spec).find((w) => w.field === "network.vpcEndpoints");
    expect(warning).toMatchObject({ category: "cost", value: true });
    expect(warning!.message).toMatch(/5 interface endpoints in 3 zones are 15 billed endpoint-zone-hours/);
    expect(() => validateSpec("x.yaml", "prod", "controlPlane: {count: 3}\nloadBalancer: {kind: nlb}\nnetwork: {natGateways: perZone, vpcEndpoints: true}\nstrict: true\n")).not.toThrow();
  });

  test("vpcEndpoints must be a boolean", () => {
    expect(errorsOf("network: {vpcEndpoints: yes please}")).toEqual(['clusters/bad.yaml: network.vpcEndpoints: "yes please": expected a boolean']);
  });
});

describe("one NAT gateway: the warning, the failure analysis and the HA report", () => {
  const nlb = "controlPlane: {count: 3}\nloadBalancer: {kind: nlb}\n";

  test("single NAT without endpoints is an HA warning on network.natGateways, refused by strict mode", () => {
    const warning = specWarnings(inlineTopology("one", nlb).spec).find((w) => w.field === "network.natGateways");
    expect(warning).toMatchObject({ category: "ha", value: "single" });
    expect(warning!.message).toMatch(/^network: one NAT gateway, in eu-west-1a, and no VPC endpoints: losing that zone cuts/);
    expect(errorsOf(`${nlb}strict: true\n`)).toEqual([expect.stringMatching(/^clusters\/bad\.yaml: network\.natGateways: "single": HA warning refused by strict mode/)]);
  });

  test("single NAT with endpoints, or NAT per zone: no HA warning", () => {
    for (const network of ["{vpcEndpoints: true}", "{natGateways: perZone}"]) {
      const warnings = specWarnings(inlineTopology("ok", `${nlb}network: ${network}\n`).spec);
      expect(warnings.filter((w) => w.category === "ha")).toEqual([]);
    }
  });

  test("the NAT's zone row says what the other zones lose, and only that row", () => {
    const zoneRows = (yamlText: string) => analyzeFailures(inlineTopology("zones", yamlText)).filter((c) => c.scope === "zone");
    const [first, ...others] = zoneRows(nlb);
    expect(first.zone).toBe("eu-west-1a");
    expect(first.survives).toBe(true);
    expect(first.why).toMatch(/the only NAT gateway goes with it: the other zones' nodes lose Session Manager, Parameter Store, KMS and S3/);
    for (const row of others) expect(row.why).not.toMatch(/NAT/);
    const [withEndpoints] = zoneRows(`${nlb}network: {vpcEndpoints: true}\n`);
    expect(withEndpoints.why).toMatch(/keep Session Manager, Parameter Store, KMS and S3 through the VPC endpoints, but a node booting there cannot install packages/);
    for (const row of zoneRows(`${nlb}network: {natGateways: perZone}\n`)) expect(row.why).not.toMatch(/NAT/);
  });

  test("ha-report.json's egress says what survives a zone", () => {
    expect(buildHaReport(shippedTopology("production")).egress).toEqual({
      natGateways: "perZone",
      natZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
      vpcEndpoints: true,
      awsApisSurviveAnyZone: true,
      internetSurvivesAnyZone: true,
    });
    expect(buildHaReport(shippedTopology("five-server")).egress).toEqual({
      natGateways: "single",
      natZones: ["eu-west-1a"],
      vpcEndpoints: false,
      awsApisSurviveAnyZone: false,
      internetSurvivesAnyZone: false,
    });
    expect(buildHaReport(inlineTopology("endpoints", "network: {vpcEndpoints: true}\n")).egress).toMatchObject({ awsApisSurviveAnyZone: true, internetSurvivesAnyZone: false });
  });
});

describe("network.flowLogs", () => {
  test("off by default", () => {
    const doc = synth(shippedTopology("production"));
    expect(resources(doc, "aws_flow_log")).toEqual([]);
    expect(resources(doc, "aws_cloudwatch_log_group")).toEqual([]);
  });

  test("CloudWatch Logs: a KMS-encrypted log group with the retention, a role that may write only there", () => {
    const doc = synth(inlineTopology("logs", "network: {flowLogs: {retentionDays: 30, trafficType: REJECT}}\n"));
    const [[groupId, group]] = resources(doc, "aws_cloudwatch_log_group");
    expect(group).toMatchObject({ name: "/kubeadm-ha/logs/vpc-flow-logs", retention_in_days: 30 });
    const [[keyId, key]] = resources(doc, "aws_kms_key").filter(([, k]) => /VPC flow logs/.test(k.description));
    expect(group.kms_key_id).toBe(ref("aws_kms_key", keyId, "arn"));
    expect(key.enable_key_rotation).toBe(true);
    const [[, flowLog]] = resources(doc, "aws_flow_log");
    expect(flowLog).toMatchObject({ traffic_type: "REJECT", log_destination_type: "cloud-watch-logs", log_destination: ref("aws_cloudwatch_log_group", groupId, "arn") });
    expect(flowLog.vpc_id).toMatch(/^\$\{aws_vpc\./);
    const [[roleId, role]] = resources(doc, "aws_iam_role").filter(([, r]) => r.name === "logs-eu-west-1-vpc-flow-logs");
    expect(flowLog.iam_role_arn).toBe(ref("aws_iam_role", roleId, "arn"));
    const documents = doc.data.aws_iam_policy_document as Record<string, Json>;
    const trust = Object.entries(documents).find(([id]) => role.assume_role_policy.includes(id))![1];
    expect(trust.statement[0].principals).toEqual([{ type: "Service", identifiers: ["vpc-flow-logs.amazonaws.com"] }]);
    expect(trust.statement[0].condition.map((c: Json) => c.variable)).toEqual(["aws:SourceAccount", "aws:SourceArn"]);
    const [[, policy]] = resources(doc, "aws_iam_role_policy").filter(([, p]) => p.role === ref("aws_iam_role", roleId, "name"));
    const write = Object.entries(documents).find(([id]) => policy.policy.includes(id))![1];
    const groupArn = "arn:${data.aws_partition.cluster_identity_partition_D44AA3FB.partition}:logs:eu-west-1:${data.aws_caller_identity.cluster_identity_caller-identity_41AB0353.account_id}:log-group:/kubeadm-ha/logs/vpc-flow-logs";
    expect(write.statement[0]).toMatchObject({ actions: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], resources: [groupArn, `${groupArn}:*`] });
    const keyPolicy = Object.entries(documents).find(([id]) => key.policy.includes(id))![1];
    const logsStatement = keyPolicy.statement.find((s: Json) => s.sid === "CloudWatchLogsUsesKeyForThisLogGroup");
    expect(logsStatement.condition).toEqual([{ test: "ArnEquals", variable: "kms:EncryptionContext:aws:logs:arn", values: [groupArn] }]);
  });

  test("policies.json shows the flow-log key's policy and the role's policy", () => {
    const doc = synth(inlineTopology("logs", "network: {flowLogs: {}}\n"));
    const review = JSON.parse(renderPolicyReview(doc));
    expect(review.kmsKeyPolicies["alias/kubeadm-ha/logs/vpc-flow-logs"].Statement.map((s: Json) => s.Sid)).toEqual([
      "AccountAdministersKey",
      "CloudWatchLogsUsesKeyForThisLogGroup",
    ]);
    expect(review.roleInlinePolicies["/logs-eu-west-1-vpc-flow-logs/kubeadm-ha-vpc-flow-logs"].Statement[0].Resource).toEqual([
      "arn:<partition>:logs:eu-west-1:<account>:log-group:/kubeadm-ha/logs/vpc-flow-logs",
      "arn:<partition>:logs:eu-west-1:<account>:log-group:/kubeadm-ha/logs/vpc-flow-logs:*",
    ]);
  });

  test("the default retention is 90 days", () => {
    const doc = synth(inlineTopology("logs", "network: {flowLogs: {}}\n"));
    expect(resources(doc, "aws_cloudwatch_log_group")[0][1].retention_in_days).toBe(90);
  });

  test("S3: the operator's bucket and prefix, no role and no log group", () => {
    const doc = synth(inlineTopology("s3logs", "network: {flowLogs: {destination: s3, s3Bucket: my-flow-logs, s3KeyPrefix: vpc/prod}}\n"));
    const [[, flowLog]] = resources(doc, "aws_flow_log");
    expect(flowLog).toMatchObject({
      traffic_type: "ALL",
      log_destination_type: "s3",
      log_destination: "arn:${data.aws_partition.cluster_identity_partition_D44AA3FB.partition}:s3:::my-flow-logs/vpc/prod",
    });
    expect(flowLog.iam_role_arn).toBeUndefined();
    expect(resources(doc, "aws_cloudwatch_log_group")).toEqual([]);
  });

  test.each([
    ["network: {flowLogs: {retentionDays: 10}}", 'network.flowLogs.retentionDays: 10: expected one of CloudWatch Logs\' retention values: 1, 3, 5, 7, 14, 30, 60, 90'],
    ["network: {flowLogs: {s3Bucket: my-logs}}", 'network.flowLogs.s3Bucket: "my-logs": only for network.flowLogs.destination s3'],
    ["network: {flowLogs: {s3KeyPrefix: x}}", 'network.flowLogs.s3KeyPrefix: "x": only for network.flowLogs.destination s3'],
    ["network: {flowLogs: {destination: s3}}", "network.flowLogs.s3Bucket: (missing): required when network.flowLogs.destination is s3"],
    ["network: {flowLogs: {destination: s3, s3Bucket: my-logs, retentionDays: 30}}", "network.flowLogs.retentionDays: 30: only for network.flowLogs.destination cloudWatchLogs"],
    ["network: {flowLogs: {destination: kinesis}}", 'network.flowLogs.destination: "kinesis": expected one of "cloudWatchLogs", "s3"'],
    ["network: {flowLogs: {trafficType: all}}", 'network.flowLogs.trafficType: "all": expected one of "ALL", "ACCEPT", "REJECT"'],
    ["network: {flowLogs: {destination: s3, s3Bucket: My_Bucket}}", 'network.flowLogs.s3Bucket: "My_Bucket": expected an S3 bucket name'],
    ["network: {flowLogs: {destination: s3, s3Bucket: logs, s3KeyPrefix: /x/}}", 'network.flowLogs.s3KeyPrefix: "/x/": expected an object key prefix'],
    ["network: {flowLogs: {retention: 30}}", "network.flowLogs.retention: 30: unknown field; accepted here: destination, trafficType, retentionDays, s3Bucket, s3KeyPrefix"],
  ])("%s is an error", (yamlText, expected) => {
    const lines = errorsOf(yamlText);
    expect(lines).toEqual([expect.stringContaining(`clusters/bad.yaml: ${expected}`)]);
  });
});

describe("review", () => {
  let outdir: string;
  beforeAll(() => {
    outdir = shippedSynthOutdir();
  });
  const page = (stack: string) => fs.readFileSync(path.join(outdir, "review", stack, "REVIEW.md"), "utf8");

  test("REVIEW.md's traffic diagram shows the endpoints' HTTPS from the VPC and the narrowed egress", () => {
    expect(page("production")).toMatch(/cidr_10_2_0_0_16 -->\|"443\/tcp"\| sg_vpc_endpoints\n/);
    expect(page("production")).not.toMatch(/sg_load_balancer -->\|[^|]*\| cidr_0_0_0_0_0/);
    for (const group of ["sg_load_balancer", "sg_etcd"]) {
      expect(page("external-etcd")).toContain(`${group} -->|"80/tcp, 443/tcp, 123/udp"| cidr_0_0_0_0_0\n`);
    }
    expect(page("external-etcd")).toContain('sg_etcd -->|"2379/tcp, 2380/tcp"| sg_etcd\n');
  });

  test("REVIEW.md states the egress: NAT gateways, endpoints, flow logs, and what one zone's loss leaves", () => {
    expect(page("production")).toContain(
      "Egress: a NAT gateway per zone (eu-west-1a, eu-west-1b, eu-west-1c); VPC endpoints in every zone for ssm, ssmmessages, ec2messages, kms, sts, and an S3 gateway endpoint; flow logs off. " +
        "When one zone fails, the other zones keep the AWS APIs (Session Manager, Parameter Store, KMS, STS, S3): yes; the internet (packages for booting nodes): yes.",
    );
    expect(page("five-server")).toContain("Egress: one NAT gateway, in eu-west-1a; no VPC endpoints; flow logs off. When one zone fails, the other zones keep the AWS APIs (Session Manager, Parameter Store, KMS, STS, S3): **no**;");
  });

  test("REVIEW.md names the flow logs' destination", () => {
    const egressOf = (name: string, yamlText: string) => {
      const topology = inlineTopology(name, yamlText);
      return renderReviewBundle(topology, renderCluster(topology).nodes).get("REVIEW.md")!.split("\n").find((line) => line.startsWith("Egress:"));
    };
    expect(egressOf("cw", "network: {flowLogs: {}}\n")).toContain("; flow logs (ALL) to CloudWatch Logs /kubeadm-ha/cw/vpc-flow-logs, 90 days.");
    expect(egressOf("s3", "network: {flowLogs: {destination: s3, s3Bucket: logs-bucket, s3KeyPrefix: vpc, trafficType: REJECT}}\n")).toContain(
      "; flow logs (REJECT) to s3://logs-bucket/vpc.",
    );
  });

  test("the NAT's zone row is on the review page", () => {
    expect(page("five-server")).toMatch(/eu-west-1a[^\n]*the only NAT gateway goes with it/);
    expect(page("production")).not.toMatch(/only NAT gateway/);
  });
});
