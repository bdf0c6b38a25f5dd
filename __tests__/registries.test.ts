/** The load-balancer kind registry and the role profile table: complete, consistent, and what the pipeline reads. */
import * as fs from "fs";
import * as path from "path";
import { LOAD_BALANCER_KINDS, LOAD_BALANCERS } from "../lib/load-balancers/registry";
import { PROVISIONING_ORDER, provisionedRoles, ROLE_PROFILES } from "../lib/roles";
import type { NodeRole } from "../lib/roles";
import { clusterSpecJsonSchema } from "../lib/spec";
import { renderNodeFiles } from "../lib/render/node-files";
import { clusterEnv } from "../lib/render/cluster-env";
import { inlineTopology, REPO_ROOT, SHIPPED_CLUSTERS, shippedTopology } from "./support/specs";

describe("load-balancer kinds", () => {
  test("the spec accepts exactly the registry's kinds, and each module names its own kind", () => {
    const schema = clusterSpecJsonSchema() as { properties: { loadBalancer: { properties: { kind: { enum: string[] } } } } };
    expect(schema.properties.loadBalancer.properties.kind.enum).toEqual([...LOAD_BALANCER_KINDS]);
    expect(Object.keys(LOAD_BALANCERS).sort()).toEqual([...LOAD_BALANCER_KINDS].sort());
    for (const [kind, module] of Object.entries(LOAD_BALANCERS)) expect(module.kind).toBe(kind);
  });

  test.each([...LOAD_BALANCER_KINDS])("%s: node kinds render their config path, and the node's cluster.env points the boot script at it", (kind) => {
    const module = LOAD_BALANCERS[kind];
    const topology = inlineTopology("kinds", `controlPlane: {count: 3}\nloadBalancer: {kind: ${kind}}\n`);
    expect(topology.loadBalancerKind).toBe(module);
    if (!module.runsOnNode) {
      expect(topology.loadBalancer).toBeUndefined();
      expect(topology.nodes.some((node) => node.role === "load-balancer")).toBe(false);
      return;
    }
    const lb = topology.loadBalancer!;
    const files = renderNodeFiles(topology, lb);
    expect(files.map((file) => file.path)).toContain(module.configPath);
    expect(module.renderFiles(topology).every((file) => files.some((f) => f.path === file.path && f.content === file.content))).toBe(true);
    const env = Object.fromEntries(clusterEnv(topology, lb));
    expect(env.LB_KIND).toBe(kind);
    expect(env.LB_CONFIG).toBe(module.configPath);
    expect(module.packages.length).toBeGreaterThan(0);
    expect(module.configCheck[0]).toBe(module.service);
    for (const word of [...module.packages, ...module.configCheck, module.service]) expect(word).toMatch(/^\S+$/);
    expect(env.LB_PACKAGES).toBe(module.packages.join(" "));
    expect(env.LB_CONFIG_CHECK).toBe(module.configCheck.join(" "));
    expect(env.LB_SERVICE).toBe(module.service);
  });

  test.each([...LOAD_BALANCER_KINDS])("%s: warnings come from the module, and its failure case is in the analysis", (kind) => {
    const module = LOAD_BALANCERS[kind];
    const topology = inlineTopology("kinds", `controlPlane: {count: 3}\nloadBalancer: {kind: ${kind}}\n`);
    for (const warning of module.warnings(topology.spec)) expect(topology.warnings).toContain(warning.message);
    expect(module.failover.explanation.length).toBeGreaterThan(20);
  });

  test("HAProxy's failover figure is its config's worst case; NGINX has none (a frozen master is never taken out)", () => {
    expect(LOAD_BALANCERS.haproxy.failover.worstCaseSeconds).toBe(3.5);
    expect(LOAD_BALANCERS.nginx.failover.worstCaseSeconds).toBeUndefined();
  });
});

describe("role profiles", () => {
  const roles = Object.keys(ROLE_PROFILES) as NodeRole[];

  test("every role has a distinct name prefix and host block, and is provisioned in a fixed order", () => {
    expect(new Set(roles.map((role) => ROLE_PROFILES[role].namePrefix)).size).toBe(roles.length);
    const blocks = roles.map((role) => ROLE_PROFILES[role].hostBlock);
    expect(new Set(blocks).size).toBe(roles.length);
    expect([...PROVISIONING_ORDER].sort()).toEqual([...roles].sort());
  });

  test("every boot script a profile names is a template", () => {
    for (const role of roles) {
      for (const scripts of Object.values(ROLE_PROFILES[role].bootScripts)) {
        for (const script of scripts) expect(fs.existsSync(path.join(REPO_ROOT, "templates", script))).toBe(true);
      }
    }
  });

  test.each([...SHIPPED_CLUSTERS])("%s: node names follow the profiles; one init node per founded cluster, every other node joins", (name) => {
    const topology = shippedTopology(name);
    for (const node of topology.nodes) expect(node.name).toBe(`${ROLE_PROFILES[node.role].namePrefix}-${node.ordinal}`);
    const inits = topology.nodes.filter((node) => node.bootstrap === "init");
    const founders = roles.filter((role) => ROLE_PROFILES[role].foundsCluster && topology.nodes.some((node) => node.role === role));
    expect(inits.map((node) => node.role).sort()).toEqual(founders.sort());
    expect(inits).toContain(topology.initNode);
    expect(topology.initNode.role).toBe("control-plane");
    for (const node of topology.nodes) {
      expect(Object.fromEntries(clusterEnv(topology, node)).BOOT_SCRIPTS).toBe(ROLE_PROFILES[node.role].bootScripts[node.bootstrap].join(" "));
    }
  });

  test("stacked etcd provisions no etcd group or role; workers are provisioned with no workers", () => {
    const stacked = inlineTopology("roles", "workers: {count: 0}\n");
    expect(provisionedRoles(stacked, "securityGroup")).toEqual(["load-balancer", "control-plane", "worker"]);
    expect(provisionedRoles(stacked, "instanceProfile")).toEqual(["load-balancer", "control-plane", "worker"]);
    const external = inlineTopology("roles", "etcd: {topology: external}\n");
    expect(provisionedRoles(external, "securityGroup")).toEqual(["load-balancer", "control-plane", "worker", "etcd"]);
  });

  test("only the stateless load balancer is replaced when its user-data changes", () => {
    expect(roles.filter((role) => ROLE_PROFILES[role].replaceOnUserDataChange)).toEqual(["load-balancer"]);
  });
});
