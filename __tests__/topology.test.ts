import { buildTopology } from "../lib/topology";
import { validateSpec } from "../lib/validate";
import { analyzeFailures } from "../lib/failure-analysis";
import { inlineTopology, shippedTopology } from "./support/specs";

const countByRole = (name: string) =>
  shippedTopology(name).nodes.reduce<Record<string, number>>((acc, node) => ({ ...acc, [node.role]: (acc[node.role] ?? 0) + 1 }), {});

describe("shipped topologies", () => {
  test("five-server: 2 control-plane, 2 workers, 1 load balancer, stacked etcd", () => {
    expect(countByRole("five-server")).toEqual({ "load-balancer": 1, "control-plane": 2, worker: 2 });
    const topology = shippedTopology("five-server");
    expect(topology.etcd).toMatchObject({ topology: "stacked", quorum: 2, failuresTolerated: 0 });
    expect(topology.etcd.members.map((m) => m.ip)).toEqual(topology.controlPlane.map((n) => n.privateIp));
  });

  test("external-etcd: the same plus 3 etcd nodes", () => {
    expect(countByRole("external-etcd")).toEqual({ "load-balancer": 1, "control-plane": 2, worker: 2, etcd: 3 });
    const topology = shippedTopology("external-etcd");
    expect(topology.etcd).toMatchObject({ topology: "external", quorum: 2, failuresTolerated: 1 });
    expect(topology.etcd.endpoints).toEqual(topology.etcdNodes.map((n) => `https://${n.privateIp}:2379`));
  });

  test.each(["five-server", "external-etcd"])("%s: endpoint is the load balancer on 6443 and backends are the control plane", (name) => {
    const topology = shippedTopology(name);
    expect(topology.controlPlaneEndpoint).toBe(`${topology.loadBalancer!.privateIp}:6443`);
    expect(topology.apiServerBackends).toEqual(topology.controlPlane.map((n) => `${n.privateIp}:6443`));
    expect(topology.initNode).toBe(topology.controlPlane[0]);
  });

  test("the address plan is literal and deterministic", () => {
    expect(shippedTopology("five-server").nodes.map((n) => [n.name, n.privateIp, n.availabilityZone])).toEqual([
      ["lb-1", "10.0.0.10", "eu-west-1a"],
      ["control-plane-1", "10.0.0.20", "eu-west-1a"],
      ["control-plane-2", "10.0.32.20", "eu-west-1b"],
      ["worker-1", "10.0.0.40", "eu-west-1a"],
      ["worker-2", "10.0.32.40", "eu-west-1b"],
    ]);
  });
});

describe("address plan", () => {
  test("nodes spread round-robin over zones and names and IPs are unique", () => {
    const topology = inlineTopology("big", "controlPlane: {count: 5}\nworkers: {count: 100}");
    expect(new Set(topology.nodes.map((n) => n.privateIp)).size).toBe(topology.nodes.length);
    expect(new Set(topology.nodes.map((n) => n.name)).size).toBe(topology.nodes.length);
    expect(topology.controlPlane.map((n) => n.availabilityZone)).toEqual([
      "eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1a", "eu-west-1b",
    ]);
    for (const node of topology.nodes) {
      const zone = topology.zones[node.zoneIndex];
      expect(zone.name).toBe(node.availabilityZone);
      const [base, prefix] = zone.privateSubnet.split("/");
      const toInt = (ip: string) => ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
      const offset = toInt(node.privateIp) - toInt(base);
      expect(offset).toBeGreaterThanOrEqual(4);
      expect(offset).toBeLessThan(2 ** (32 - Number(prefix)) - 1);
    }
  });

  test("adding workers never moves control-plane, etcd or load-balancer addresses", () => {
    const small = inlineTopology("grow", "etcd: {topology: external}\nworkers: {count: 2}");
    const large = inlineTopology("grow", "etcd: {topology: external}\nworkers: {count: 60}");
    const fixed = (t: typeof small) => t.nodes.filter((n) => n.role !== "worker").map((n) => `${n.name}=${n.privateIp}`);
    expect(fixed(large)).toEqual(fixed(small));
    expect(large.workers.slice(0, 2).map((n) => n.privateIp)).toEqual(small.workers.map((n) => n.privateIp));
  });

  test("zones: private subnets first, public subnets in the upper half", () => {
    expect(shippedTopology("five-server").zones).toEqual([
      { name: "eu-west-1a", privateSubnet: "10.0.0.0/19", publicSubnet: "10.0.128.0/19" },
      { name: "eu-west-1b", privateSubnet: "10.0.32.0/19", publicSubnet: "10.0.160.0/19" },
      { name: "eu-west-1c", privateSubnet: "10.0.64.0/19", publicSubnet: "10.0.192.0/19" },
    ]);
  });

  test("buildTopology carries the warnings it is given", () => {
    const { spec, warnings } = validateSpec("x.yaml", "warn", "controlPlane: {count: 2}");
    expect(buildTopology(spec, warnings).warnings).toEqual(warnings);
  });
});

describe("failure analysis", () => {
  const verdicts = (name: string) => Object.fromEntries(analyzeFailures(shippedTopology(name)).map((c) => [c.failure, c.survives]));

  test("five-server: losing either control-plane node loses etcd quorum", () => {
    const cases = analyzeFailures(shippedTopology("five-server"));
    const cp = cases.find((c) => c.failure === "one control-plane node");
    expect(cp).toMatchObject({ survives: false });
    expect(cp?.why).toMatch(/tolerate zero failures/);
    expect(verdicts("five-server")["the load-balancer node"]).toBe(false);
    expect(verdicts("five-server")["one worker node"]).toBe(true);
  });

  test("external-etcd: survives a control-plane node and an etcd node", () => {
    const v = verdicts("external-etcd");
    expect(v["one control-plane node"]).toBe(true);
    expect(v["one etcd node"]).toBe(true);
    expect(v["2 etcd members"]).toBe(false);
  });

  test("three stacked control-plane nodes survive one, and a zone without the load balancer", () => {
    const cases = analyzeFailures(inlineTopology("three", "controlPlane: {count: 3}"));
    expect(cases.find((c) => c.failure === "one control-plane node")?.survives).toBe(true);
    expect(cases.find((c) => c.failure.startsWith("availability zone eu-west-1b"))?.survives).toBe(true);
    expect(cases.find((c) => c.failure.startsWith("availability zone eu-west-1a"))?.why).toMatch(/load balancer runs there/);
  });
});
