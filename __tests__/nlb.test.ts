/**
 * loadBalancer.kind nlb: validation, topology, the synthesized NLB (health checks, hairpin,
 * cross-zone, the private DNS name, optional public access) and the review's failure figures.
 */
import { Testing } from "cdktf";
import { SpecError, specWarnings, validateSpec } from "../lib/validate";
import type { ClusterNode, Topology } from "../lib/topology";
import { ClusterStack } from "../lib/cluster-stack";
import { renderCluster } from "../lib/render/cluster";
import { dependsOnTransitively } from "./support/depends-on";
import { renderNodeFiles } from "../lib/render/node-files";
import { kubeadmDocuments } from "../lib/render/kubeadm";
import { analyzeFailures, survivalSummary } from "../lib/failure-analysis";
import { renderReviewBundle } from "../lib/review";
import { LOAD_BALANCERS } from "../lib/load-balancers/registry";
import { NLB_TUNING, nlbCrashMarkDownSeconds, nlbWorstCaseMarkDownSeconds } from "../lib/load-balancers/nlb";
import { inlineTopology, shippedTopology } from "./support/specs";

type Json = Record<string, any>;
const NLB = "controlPlane: {count: 3}\nloadBalancer: {kind: nlb}\n";

function errorsOf(yamlText: string, name = "bad"): string[] {
  try {
    validateSpec(`clusters/${name}.yaml`, name, yamlText);
  } catch (error) {
    expect(error).toBeInstanceOf(SpecError);
    return (error as SpecError).message.split("\n");
  }
  throw new Error("spec was accepted");
}

function synth(topology: Topology): Json {
  const userData = (node: ClusterNode) => `#cloud-config\n# ${node.name}\n`;
  return JSON.parse(Testing.synth(new ClusterStack(Testing.app(), topology.stack, { topology, userData })));
}
const resources = (doc: Json, type: string): [string, Json][] => Object.entries(doc.resource?.[type] ?? {});
const only = (doc: Json, type: string): [string, Json] => {
  const found = resources(doc, type);
  expect(found).toHaveLength(1);
  return found[0];
};

describe("validation", () => {
  test("nlb is an accepted kind; its HA spec has no load-balancer warning", () => {
    const { warnings } = validateSpec("x.yaml", "prod", NLB);
    expect(warnings.join("\n")).not.toMatch(/loadBalancer/);
  });

  test("instanceType is an error with nlb; publicAccessCidrs is an error with haproxy and nginx", () => {
    expect(errorsOf("loadBalancer: {kind: nlb, instanceType: t3.small}")).toEqual([
      'clusters/bad.yaml: loadBalancer.instanceType: "t3.small": only for the haproxy and nginx kinds; an nlb runs on no instance',
    ]);
    for (const kind of ["haproxy", "nginx"]) {
      expect(errorsOf(`loadBalancer: {kind: ${kind}, publicAccessCidrs: [203.0.113.0/24]}`)).toEqual([
        expect.stringContaining('clusters/bad.yaml: loadBalancer.publicAccessCidrs: ["203.0.113.0/24"]: only for loadBalancer.kind nlb'),
      ]);
    }
  });

  test("publicAccessCidrs: each a CIDR, outside the VPC, listed once, 1 to 20 of them", () => {
    expect(errorsOf("loadBalancer: {kind: nlb, publicAccessCidrs: [203.0.113.1]}")).toEqual([
      expect.stringMatching(/^clusters\/bad\.yaml: loadBalancer\.publicAccessCidrs\.0: "203\.0\.113\.1": /),
    ]);
    expect(errorsOf("loadBalancer: {kind: nlb, publicAccessCidrs: [10.0.1.0/24]}").join("\n")).toContain(
      'loadBalancer.publicAccessCidrs.0: "10.0.1.0/24": lies inside network.vpcCidr (10.0.0.0/16)',
    );
    expect(errorsOf("loadBalancer: {kind: nlb, publicAccessCidrs: [203.0.113.0/24, 203.0.113.0/24]}").join("\n")).toContain("each CIDR may appear once");
    expect(errorsOf("loadBalancer: {kind: nlb, publicAccessCidrs: []}").join("\n")).toContain("loadBalancer.publicAccessCidrs: []: expected at least 1 entries");
  });

  test("the whole internet as a public CIDR is legal but warned about", () => {
    const { warnings } = validateSpec("x.yaml", "prod", "loadBalancer: {kind: nlb, publicAccessCidrs: [0.0.0.0/0]}\n");
    expect(warnings.join("\n")).toMatch(/publicAccessCidrs includes 0\.0\.0\.0\/0: the Kubernetes API is reachable from the whole internet/);
  });

  test("the stack name must leave room in AWS's 32-character load balancer names", () => {
    const long = "a".repeat(29);
    expect(errorsOf("loadBalancer: {kind: nlb}", long).join("\n")).toContain(
      `(file name): "${long}": with loadBalancer.kind nlb the stack name names the load balancer (${long}-api), which AWS limits to 32 characters: use at most 28 characters`,
    );
    const public24 = "b".repeat(25);
    expect(errorsOf("loadBalancer: {kind: nlb, publicAccessCidrs: [203.0.113.0/24]}", public24).join("\n")).toContain("use at most 24 characters");
    expect(() => validateSpec("x.yaml", "a".repeat(24), "loadBalancer: {kind: nlb, publicAccessCidrs: [203.0.113.0/24]}")).not.toThrow();
  });
});

describe("topology and rendering", () => {
  const topology = inlineTopology("prod", NLB);

  test("no load-balancer node; the endpoint is the private zone's name, known at synth", () => {
    expect(topology.loadBalancer).toBeUndefined();
    expect(topology.nodes.map((node) => node.role)).not.toContain("load-balancer");
    expect(topology.controlPlaneEndpoint).toBe("api.prod.internal:6443");
  });

  test("every kubeconfig kubeadm writes points at the name, and the API server certificate carries it", () => {
    const cluster = kubeadmDocuments(topology, topology.initNode).find((doc) => doc.kind === "ClusterConfiguration") as Json;
    expect(cluster.controlPlaneEndpoint).toBe("api.prod.internal:6443");
    expect(cluster.apiServer.certSANs).toEqual(["api.prod.internal", ...topology.controlPlane.map((node) => node.privateIp)]);
    for (const node of topology.nodes) {
      const env = renderNodeFiles(topology, node).find((file) => file.path === "/etc/kubeadm-ha/cluster.env")!.content;
      expect(env).toContain("CONTROL_PLANE_ENDPOINT='api.prod.internal:6443'");
    }
  });
});

describe("synthesized NLB", () => {
  const topology = inlineTopology("prod", NLB);
  const doc = synth(topology);
  const [lbId, lb] = only(doc, "aws_lb");
  const [tgId, tg] = only(doc, "aws_lb_target_group");
  const subnetIdByZone = Object.fromEntries(resources(doc, "aws_subnet").map(([id, subnet]) => [`${subnet.tags.Tier}-${subnet.availability_zone}`, id]));

  test("internal, network type, one private subnet per zone, cross-zone on, in the load-balancer security group", () => {
    expect(lb).toMatchObject({ internal: true, load_balancer_type: "network", enable_cross_zone_load_balancing: true, name: "prod-api" });
    expect(lb.subnets).toEqual(topology.zones.map((zone) => `\${aws_subnet.${subnetIdByZone[`private-${zone.name}`]}.id}`));
    const groups = Object.fromEntries(resources(doc, "aws_security_group").map(([id, group]) => [group.tags.Name, id]));
    expect(lb.security_groups).toEqual([`\${aws_security_group.${groups["prod-load-balancer"]}.id}`]);
  });

  test("target group: TCP 6443 instances, client IPs not preserved (hairpin), short deregistration, HTTPS /readyz without etcd at NLB's fastest", () => {
    expect(tg).toMatchObject({
      target_type: "instance",
      protocol: "TCP",
      port: 6443,
      preserve_client_ip: "false",
      deregistration_delay: String(NLB_TUNING.deregistrationDelaySeconds),
      connection_termination: true,
    });
    expect(tg.health_check).toEqual({
      enabled: true,
      protocol: "HTTPS",
      port: "traffic-port",
      path: "/readyz?exclude=etcd&exclude=etcd-readiness",
      matcher: "200",
      interval: 5,
      timeout: 2,
      healthy_threshold: 2,
      unhealthy_threshold: 2,
    });
  });

  test("every control-plane instance is a target; the listener forwards 6443 as TCP", () => {
    const instances = Object.fromEntries(resources(doc, "aws_instance").map(([id, instance]) => [instance.tags.Name, id]));
    const targets = resources(doc, "aws_lb_target_group_attachment").map(([, attachment]) => attachment);
    expect(targets.map((target) => target.target_id).sort()).toEqual(
      topology.controlPlane.map((node) => `\${aws_instance.${instances[`prod-${node.name}`]}.id}`).sort(),
    );
    for (const target of targets) expect(target).toMatchObject({ port: 6443, target_group_arn: `\${aws_lb_target_group.${tgId}.arn}` });
    const [, listener] = only(doc, "aws_lb_listener");
    expect(listener).toMatchObject({ port: 6443, protocol: "TCP", load_balancer_arn: `\${aws_lb.${lbId}.arn}` });
    expect(listener.default_action).toEqual([{ type: "forward", target_group_arn: `\${aws_lb_target_group.${tgId}.arn}` }]);
  });

  test("api.<stack>.internal is an alias of the NLB in a private zone of the VPC, and every node boots after it exists", () => {
    const [zoneId, zone] = only(doc, "aws_route53_zone");
    const [recordId, record] = only(doc, "aws_route53_record");
    const [vpcId] = only(doc, "aws_vpc");
    expect(zone).toMatchObject({ name: "prod.internal", vpc: [{ vpc_id: `\${aws_vpc.${vpcId}.id}` }] });
    expect(record).toMatchObject({
      name: "api.prod.internal",
      type: "A",
      zone_id: `\${aws_route53_zone.${zoneId}.zone_id}`,
      alias: { name: `\${aws_lb.${lbId}.dns_name}`, zone_id: `\${aws_lb.${lbId}.zone_id}`, evaluate_target_health: true },
    });
    for (const [, instance] of resources(doc, "aws_instance")) {
      expect([...dependsOnTransitively(doc, instance)]).toEqual(expect.arrayContaining([`aws_route53_record.${recordId}`, expect.stringMatching(/^aws_lb_listener\./)]));
    }
  });

  test("no load-balancer instance, IAM role or instance output; the NLB's name is an output", () => {
    expect(resources(doc, "aws_instance").map(([, instance]) => instance.tags.Role)).not.toContain("load-balancer");
    expect(resources(doc, "aws_iam_role").map(([, role]) => role.name)).not.toContain("prod-load-balancer");
    expect(doc.output.load_balancer_instance_id).toBeUndefined();
    expect(doc.output.api_endpoint.value).toBe("api.prod.internal:6443");
    expect(doc.output.api_load_balancer_dns_name.value).toBe(`\${aws_lb.${lbId}.dns_name}`);
  });

  test("the nodes' security groups admit the NLB's group on 6443, as before for a load-balancer node", () => {
    const groups = Object.fromEntries(resources(doc, "aws_security_group").map(([id, group]) => [id, group.tags.Name]));
    const rules = resources(doc, "aws_vpc_security_group_ingress_rule").map(([, rule]) => rule);
    const name = (ref: string) => groups[/\.([^.]+)\.id\}$/.exec(ref)![1]];
    const api = rules.filter((rule) => rule.from_port === 6443).map((rule) => `${name(rule.security_group_id)}<-${name(rule.referenced_security_group_id)}`);
    expect(api).toEqual(expect.arrayContaining(["prod-control-plane<-prod-load-balancer", "prod-load-balancer<-prod-control-plane", "prod-load-balancer<-prod-worker"]));
    expect(rules.some((rule) => rule.cidr_ipv4)).toBe(false);
  });
});

describe("public access for kubectl", () => {
  const topology = inlineTopology("prod", "controlPlane: {count: 3}\nloadBalancer: {kind: nlb, publicAccessCidrs: [203.0.113.0/24, 198.51.100.7/32]}\n");
  const doc = synth(topology);

  test("a second, internet-facing NLB in the public subnets with its own target group of the control plane", () => {
    const lbs = resources(doc, "aws_lb").map(([, lb]) => lb);
    expect(lbs.map((lb) => [lb.name, lb.internal])).toEqual([["prod-api", true], ["prod-api-pub", false]]);
    const publicSubnets = resources(doc, "aws_subnet").filter(([, subnet]) => subnet.tags.Tier === "public").map(([id]) => `\${aws_subnet.${id}.id}`);
    expect(lbs[1].subnets).toEqual(publicSubnets);
    expect(resources(doc, "aws_lb_target_group").map(([, tg]) => tg.preserve_client_ip)).toEqual(["false", "false"]);
    expect(resources(doc, "aws_lb_target_group_attachment")).toHaveLength(2 * topology.controlPlane.length);
    expect(doc.output.api_public_endpoint.description).toMatch(/tls-server-name to api\.prod\.internal/);
  });

  test("only the listed CIDRs reach it, and it reaches only the API servers", () => {
    const groups = Object.fromEntries(resources(doc, "aws_security_group").map(([id, group]) => [id, group.tags.Name]));
    const ingress = resources(doc, "aws_vpc_security_group_ingress_rule").map(([, rule]) => rule);
    const cidrRules = ingress.filter((rule) => rule.cidr_ipv4);
    expect(cidrRules.map((rule) => [rule.cidr_ipv4, rule.from_port, rule.to_port])).toEqual([
      ["203.0.113.0/24", 6443, 6443],
      ["198.51.100.7/32", 6443, 6443],
    ]);
    for (const rule of cidrRules) expect(rule.security_group_id).toMatch(/public-security-group/);
    const egress = resources(doc, "aws_vpc_security_group_egress_rule").filter(([id]) => id.includes("public-api"));
    expect(egress.map(([, rule]) => [rule.ip_protocol, rule.from_port, rule.referenced_security_group_id])).toEqual([
      ["tcp", 6443, expect.stringContaining(Object.keys(groups).find((id) => groups[id] === "prod-control-plane")!)],
    ]);
  });
});

describe("failure analysis and review", () => {
  test("production survives any single node, the load balancer's zone and any one zone; the five-server target does not", () => {
    const production = shippedTopology("production");
    // The one warning is the endpoints' cost; none is about availability.
    expect(specWarnings(production.spec).map((w) => [w.category, w.field])).toEqual([["cost", "network.vpcEndpoints"]]);
    expect(survivalSummary(production)).toEqual({ anySingleNode: true, loadBalancerZone: true, anyOneZone: true });
    expect(analyzeFailures(production).filter((c) => c.scope !== "beyond").every((c) => c.survives)).toBe(true);
    expect(production.zones).toHaveLength(3);
    expect(new Set(production.controlPlane.map((node) => node.availabilityZone)).size).toBe(3);
    expect(production.spec.network.natGateways).toBe("perZone");
    expect(survivalSummary(shippedTopology("five-server"))).toEqual({ anySingleNode: false, loadBalancerZone: false, anyOneZone: false });
  });

  test("an HAProxy cluster with 3 masters still loses the API with the load balancer's zone", () => {
    const topology = inlineTopology("three", "controlPlane: {count: 3}\n");
    expect(survivalSummary(topology)).toEqual({ anySingleNode: false, loadBalancerZone: false, anyOneZone: false });
  });

  test("the NLB's failover figure follows from its settings and stands next to HAProxy's on the review page", () => {
    expect(nlbCrashMarkDownSeconds()).toBe(10);
    expect(nlbWorstCaseMarkDownSeconds()).toBe(12);
    expect(LOAD_BALANCERS.nlb.failover.worstCaseSeconds).toBe(12);
    const topology = shippedTopology("production");
    const bundle = renderReviewBundle(topology, renderCluster(topology).nodes);
    const page = bundle.get("REVIEW.md")!;
    expect(page).toContain("API failover: AWS Network Load Balancer takes a dead API server out of rotation within 12 s at worst");
    expect(page).toContain("For comparison, HAProxy takes a dead API server out of rotation within 3.5 s at worst");
    expect(page).toContain("Survives the loss of any single node: yes; of the load balancer's zone: yes; of any one zone: yes.");
    const summary = JSON.parse(bundle.get("topology.json")!);
    expect(summary.loadBalancer).toMatchObject({ kind: "nlb", address: "api.production.internal", failoverWorstCaseSeconds: 12 });
    expect(summary.survives).toEqual({ anySingleNode: true, loadBalancerZone: true, anyOneZone: true });
  });
});
