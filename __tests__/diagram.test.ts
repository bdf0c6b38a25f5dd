/**
 * The review diagrams: placement from the topology, traffic from the stack's security-group rules
 * as synthesized (never a second list), deterministic.
 */
import * as fs from "fs";
import * as path from "path";
import { renderPlacementDiagram, renderTrafficDiagram } from "../lib/diagram";
import { describeRule, securityRulesOf, StackJson } from "../lib/security-rules";
import { inlineTopology, shippedTopology } from "./support/specs";
import { shippedSynthOutdir } from "./support/shipped-synth";

let outdir: string;
beforeAll(() => {
  outdir = shippedSynthOutdir();
});

const stackJson = (stack: string): StackJson =>
  JSON.parse(fs.readFileSync(path.join(outdir, "stacks", stack, "cdk.tf.json"), "utf8"));

describe("security rules read from the Terraform JSON", () => {
  test("every ingress and egress rule resource is read, with its group named by construct id", () => {
    const json = stackJson("five-server");
    const rules = securityRulesOf(json);
    const resources = json.resource ?? {};
    const count = Object.keys(resources.aws_vpc_security_group_ingress_rule ?? {}).length + Object.keys(resources.aws_vpc_security_group_egress_rule ?? {}).length;
    expect(rules).toHaveLength(count);
    expect(rules.map(describeRule)).toEqual(
      expect.arrayContaining([
        "ingress control-plane <- load-balancer 6443/tcp",
        "ingress control-plane <- control-plane 2379-2380/tcp",
        "ingress load-balancer <- worker 6443/tcp",
        "egress worker -> 0.0.0.0/0 all traffic",
      ]),
    );
  });

  test("external etcd: the etcd group admits the API servers on 2379 and its peers on 2380", () => {
    const lines = securityRulesOf(stackJson("external-etcd")).map(describeRule);
    expect(lines).toEqual(expect.arrayContaining(["ingress etcd <- control-plane 2379/tcp", "ingress etcd <- etcd 2380/tcp"]));
    expect(lines).not.toContain("ingress control-plane <- control-plane 2379-2380/tcp");
  });
});

describe("traffic diagram", () => {
  test("an arrow per source and destination group, labelled with the rules' ports", () => {
    const diagram = renderTrafficDiagram(securityRulesOf(stackJson("five-server")));
    expect(diagram.split("\n")[0]).toBe("flowchart LR");
    expect(diagram).toContain('sg_load_balancer -->|"6443/tcp"| sg_control_plane');
    expect(diagram).toContain('sg_control_plane -->|"2379-2380/tcp, 5473/tcp, 6443/tcp, 10250/tcp, 4789/udp"| sg_control_plane');
  });

  test("follows the rules: a removed rule's port disappears, an added one appears", () => {
    const json = stackJson("five-server");
    const ingress = { ...(json.resource?.aws_vpc_security_group_ingress_rule ?? {}) };
    const kubelet = Object.keys(ingress).find((key) => key.includes("worker-kubelet-from-control-plane"));
    expect(kubelet).toBeDefined();
    const template = ingress[kubelet as string];
    delete ingress[kubelet as string];
    ingress.extra = { ...template, from_port: 9100, to_port: 9100 };
    const changed = renderTrafficDiagram(securityRulesOf({ resource: { ...json.resource, aws_vpc_security_group_ingress_rule: ingress } }));
    expect(changed).toContain('sg_control_plane -->|"5473/tcp, 9100/tcp, 4789/udp"| sg_worker');
    expect(changed).not.toContain("10250/tcp, 4789/udp\"| sg_worker");
  });

  test("deterministic: the rules' order in the JSON does not matter", () => {
    const json = stackJson("external-etcd");
    const ingress = Object.entries(json.resource?.aws_vpc_security_group_ingress_rule ?? {}).reverse();
    const reversed = { resource: { ...json.resource, aws_vpc_security_group_ingress_rule: Object.fromEntries(ingress) } };
    expect(renderTrafficDiagram(securityRulesOf(reversed))).toBe(renderTrafficDiagram(securityRulesOf(json)));
  });
});

describe("placement diagram", () => {
  test("every node of a small cluster by name, in its zone, with the load balancer's backends", () => {
    const topology = shippedTopology("five-server");
    const diagram = renderPlacementDiagram(topology);
    for (const node of topology.nodes) expect(diagram).toContain(`${node.name} ${node.privateIp}`);
    expect(diagram).toContain('subgraph zone_eu_west_1b["eu-west-1b"]');
    expect(diagram.match(/-->\|"6443\/tcp"\|/g)).toHaveLength(2);
    expect(diagram.match(/etcd member/g)).toHaveLength(2);
  });

  test("external etcd members are drawn as their own nodes; the control plane holds none", () => {
    const diagram = renderPlacementDiagram(shippedTopology("external-etcd"));
    expect(diagram).toMatch(/etcd_eu_west_1a\[\("etcd<br\/>etcd-1 10\.1\.0\.30<br\/>etcd member"\)\]/);
    expect(diagram.match(/etcd member/g)).toHaveLength(3);
  });

  test("a large role is collapsed per zone, so 100 workers stay readable", () => {
    const diagram = renderPlacementDiagram(inlineTopology("big", "workers:\n  count: 100\n"));
    expect(diagram).toContain("worker x34<br/>");
    expect(diagram).toContain("+30 more");
    expect(diagram.split("\n").length).toBeLessThan(30);
  });

  test("an NLB is drawn once, outside the zones, with an arrow to the control plane in every zone", () => {
    const diagram = renderPlacementDiagram(shippedTopology("production"));
    expect(diagram).toContain('managed_load_balancer[["');
    expect(diagram).toContain("api.production.internal:6443");
    expect(diagram.match(/managed_load_balancer -->\|"6443\/tcp"\| control_plane_/g)).toHaveLength(3);
  });
});
