/**
 * The day-2 commands (rotate, scaling, upgrade, outdated) against a simulated cluster: the order
 * of steps, health-preflight refusals, never two etcd members down, member removal before the
 * instance goes, resume after an interruption, --dry-run, and clear errors for bad arguments.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderCluster } from "../lib/render/cluster";
import { inlineTopology, REPO_ROOT } from "./support/specs";
import { FakeCluster } from "./support/fake-cluster";
import { rotateMain } from "../scripts/rotate";
import { upgradeMain } from "../scripts/upgrade";
import { outdatedMain } from "../scripts/outdated";
import type { CliDeps } from "../scripts/day2/cli";
import type { Topology } from "../lib/topology";

const shipped = (name: string) => fs.readFileSync(path.join(REPO_ROOT, "clusters", `${name}.yaml`), "utf8");
const roots: string[] = [];
afterAll(() => roots.forEach((root) => fs.rmSync(root, { recursive: true, force: true })));

interface World {
  readonly fake: () => FakeCluster;
  readonly lines: string[];
  readonly deps: CliDeps;
  readonly stateDir: string;
}

// The scenarios deploy and desire the same few specs: each one's digests are rendered once.
const digestCache = new Map<string, Map<string, string>>();
function digestsOf(topology: Topology): Map<string, string> {
  const key = JSON.stringify(topology.spec);
  let digests = digestCache.get(key);
  if (digests === undefined) {
    digests = renderCluster(topology).digests;
    digestCache.set(key, digests);
  }
  return digests;
}

/** A cluster deployed from `before`, with `after` as the spec the command reads. */
function world(stack: string, before: string, after: string, options: { version?: string; interruptBefore?: number } = {}): World {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "day2-commands-"));
  roots.push(root);
  const clustersDir = path.join(root, "clusters");
  fs.mkdirSync(clustersDir);
  fs.writeFileSync(path.join(clustersDir, `${stack}.yaml`), after);
  const deployed = inlineTopology(stack, before);
  const deployedDigests = digestsOf(deployed);
  const desired = inlineTopology(stack, after);
  // One cluster across runs (a resumed run sees what the interrupted one did).
  const cluster = new FakeCluster({ deployed, deployedDigests, desired, desiredDigests: digestsOf(desired), ...options });
  const lines: string[] = [];
  const stateDir = path.join(root, "state");
  const deps: CliDeps = {
    clustersDir,
    outdir: path.join(root, "cdktf.out"),
    stateDir,
    log: (line) => lines.push(line),
    pollSeconds: 1,
    waitSeconds: 20,
    ops: () => cluster,
  };
  return {
    fake: () => cluster,
    lines,
    deps,
    stateDir,
  };
}

const destructive = (events: string[]) => events.filter((event) => !event.startsWith("synth"));
const indexOf = (events: string[], event: string) => {
  const index = events.indexOf(event);
  if (index < 0) throw new Error(`no event ${JSON.stringify(event)} in:\n${events.join("\n")}`);
  return index;
};

describe("rotate", () => {
  test("five-server: an instance-type change replaces both control-plane nodes one at a time, member removed first, init node last", async () => {
    const after = shipped("five-server").replace("count: 2\n  instanceType: t3.medium", "count: 2\n  instanceType: t3.large");
    const w = world("five-server", shipped("five-server"), after);
    expect(await rotateMain(["five-server"], w.deps)).toBe(0);
    const events = w.fake().events;
    expect(destructive(events)).toEqual([
      "drain control-plane-2",
      "kubeadm reset control-plane-2",
      "delete node control-plane-2",
      "terraform apply -replace control-plane-2",
      "uncordon control-plane-2",
      "drain control-plane-1",
      "kubeadm reset control-plane-1",
      "delete node control-plane-1",
      "terraform apply -replace control-plane-1",
      "uncordon control-plane-1",
    ]);
    // The guard is lifted for the node being replaced alone, and restored after each node.
    expect(events[indexOf(events, "terraform apply -replace control-plane-2") - 1]).toBe('synth {"replaceNode":"control-plane-2"}');
    expect(events[indexOf(events, "uncordon control-plane-2") + 1]).toBe("synth plain");
    expect(w.fake().maxMembersDown).toBe(1);
    const inventory = await w.fake().inventory();
    const digests = digestsOf(inlineTopology("five-server", after));
    for (const node of inventory) if (node.role !== "load-balancer") expect(node.recordedDigest).toBe(digests.get(node.name));
    expect(fs.existsSync(path.join(w.stateDir, "five-server.rotate.json"))).toBe(false);
    expect(w.lines).toContain("step 1/2: replace control-plane node control-plane-2");
    expect(w.lines.at(-1)).toBe("rotate finished: 2 step(s)");
  });

  test("external etcd: a release change replaces each member: remove, announce as learner, replace, promote; never two down", async () => {
    const after = shipped("external-etcd").replace('version: "3.6.4"', 'version: "3.6.5"');
    const w = world("external-etcd", shipped("external-etcd"), after);
    expect(await rotateMain(["external-etcd", "--role", "etcd"], w.deps)).toBe(0);
    const events = destructive(w.fake().events);
    for (const node of ["etcd-1", "etcd-2", "etcd-3"]) {
      const remove = indexOf(events, `etcd member remove ${node}`);
      const announce = indexOf(events, `etcd member add --learner ${node}`);
      const replace = indexOf(events, `terraform apply -replace ${node}`);
      const promote = indexOf(events, `etcd member promote ${node}`);
      expect(remove < announce && announce < replace && replace < promote).toBe(true);
    }
    expect(indexOf(events, "etcd member promote etcd-1")).toBeLessThan(indexOf(events, "etcd member remove etcd-2"));
    expect(w.fake().maxMembersDown).toBe(1);
    expect(events.some((event) => event.includes("control-plane"))).toBe(false);
  });

  test("preflight refuses when another member is unhealthy, before anything changes", async () => {
    const after = shipped("external-etcd").replace('version: "3.6.4"', 'version: "3.6.5"');
    const w = world("external-etcd", shipped("external-etcd"), after);
    expect(await outdatedMain(["external-etcd"], w.deps)).toBe(3);
    w.fake().kill("etcd-3");
    expect(await rotateMain(["external-etcd", "--node", "etcd-1"], w.deps)).toBe(1);
    expect(w.lines.at(-1)).toMatch(/^error: preflight refused \(before etcd-1\): etcd member etcd-3 is unhealthy\. Nothing was changed/);
    expect(destructive(w.fake().events)).toEqual([]);
  });

  test("a dead node is replaced: the preflight tolerates the step's own node, the member goes by etcdctl", async () => {
    const w = world("external-etcd", shipped("external-etcd"), shipped("external-etcd"));
    w.fake().kill("etcd-2");
    expect(await rotateMain(["external-etcd", "--node", "etcd-2"], w.deps)).toBe(0);
    expect(destructive(w.fake().events)).toEqual([
      "etcd member remove etcd-2",
      "etcd member add --learner etcd-2",
      "terraform apply -replace etcd-2",
      "etcd member promote etcd-2",
    ]);
    expect(w.fake().members.every((member) => member.healthy && !member.learner)).toBe(true);
  });

  test("resumes after an interruption without repeating what was done", async () => {
    const after = shipped("five-server").replace("count: 2\n  instanceType: t3.medium", "count: 2\n  instanceType: t3.large");
    // The fourth recorded operation: the synth that lifts control-plane-2's guard, after drain, reset and delete.
    const w = world("five-server", shipped("five-server"), after, { interruptBefore: 4 });
    await expect(rotateMain(["five-server"], w.deps)).resolves.toBe(2);
    expect(w.lines.at(-1)).toMatch(/^error: interrupted before/);
    const stateFile = path.join(w.stateDir, "five-server.rotate.json");
    expect(JSON.parse(fs.readFileSync(stateFile, "utf8")).steps).toHaveLength(2);
    // Other arguments are refused while a run is recorded.
    expect(await rotateMain(["five-server", "--role", "worker"], w.deps)).toBe(1);
    expect(w.lines.at(-1)).toMatch(/an interrupted `rotate five-server` is recorded here; run it again with the same arguments/);
    expect(await rotateMain(["five-server"], w.deps)).toBe(0);
    expect(w.lines.join("\n")).toMatch(/resuming rotate five-server: \d+ action\(s\) already done/);
    const events = destructive(w.fake().events);
    for (const node of ["control-plane-1", "control-plane-2"]) {
      expect(events.filter((event) => event === `terraform apply -replace ${node}`)).toHaveLength(1);
    }
    expect(w.fake().maxMembersDown).toBe(1);
    expect(fs.existsSync(stateFile)).toBe(false);
  });

  test("--dry-run prints every step and changes nothing", async () => {
    const after = shipped("five-server").replace("count: 2\n  instanceType: t3.medium", "count: 2\n  instanceType: t3.large");
    const w = world("five-server", shipped("five-server"), after);
    expect(await rotateMain(["five-server", "--dry-run"], w.deps)).toBe(0);
    expect(w.fake().events).toEqual([]);
    expect(w.lines).toEqual(expect.arrayContaining([
      "dry run: 2 step(s); nothing is changed",
      "step 1/2: replace control-plane node control-plane-2",
      "  - drain control-plane-2",
      "  - remove control-plane-2's etcd member (kubeadm reset on the node; etcdctl member remove if it is unreachable)",
      "  - terraform apply -replace control-plane-2 (targeted: the instance and its configuration record)",
      "step 2/2: replace control-plane node control-plane-1",
    ]));
    expect(fs.existsSync(path.join(w.stateDir, "five-server.rotate.json"))).toBe(false);
  });

  test.each([
    [["prod"], /"prod": no such stack; known: five-server/],
    [["five-server", "--node", "control-plane-9"], /--node: "control-plane-9": no such node in five-server; known: lb-1, control-plane-1/],
    [["five-server", "--role", "master"], /--role: "master": expected one of etcd, control-plane, worker/],
    [["five-server", "--role", "etcd"], /stacked etcd on the control-plane nodes; use --role control-plane/],
    [["five-server", "--node", "lb-1"], /Terraform replaces the load balancer itself/],
    [["five-server", "--force"], /--force: unknown option/],
    [["five-server", "--node"], /--node needs a value/],
    [["--node", "x"], /the first argument is the stack/],
  ])("rotate %j is refused with a clear error", async (argv, message) => {
    const w = world("five-server", shipped("five-server"), shipped("five-server"));
    expect(await rotateMain(argv, w.deps)).toBe(1);
    expect(w.lines.join("\n")).toMatch(message);
  });
});

describe("scaling", () => {
  const externalWith = (members: number) => shipped("external-etcd").replace("members: 3", `members: ${members}`);

  test("external etcd 3 -> 5: one learner at a time, announced before its instance, promoted before the next", async () => {
    const w = world("external-etcd", externalWith(3), externalWith(5));
    expect(await rotateMain(["external-etcd"], w.deps)).toBe(0);
    const events = w.fake().events;
    expect(destructive(events)).toEqual([
      "etcd member add --learner etcd-4",
      "terraform apply (scale etcd to 4)",
      "etcd member promote etcd-4",
      "record digests etcd-1,etcd-2,etcd-3",
      "etcd member add --learner etcd-5",
      "terraform apply (scale etcd to 5)",
      "etcd member promote etcd-5",
      // The init node's ClusterConfiguration lists the etcd endpoints (the API servers' flags): it rotates.
      "drain control-plane-1",
      "delete node control-plane-1",
      "terraform apply -replace control-plane-1",
      "uncordon control-plane-1",
    ]);
    expect(events).toContain('synth {"scale":{"role":"etcd","count":4}}');
    expect(w.fake().members.filter((member) => member.started && !member.learner)).toHaveLength(5);
  });

  test("external etcd 5 -> 3: each member removed before its instance is destroyed", async () => {
    const w = world("external-etcd", externalWith(5), externalWith(3));
    expect(await rotateMain(["external-etcd"], w.deps)).toBe(0);
    expect(destructive(w.fake().events)).toEqual([
      "etcd member remove etcd-5",
      "stop etcd on etcd-5",
      "terraform apply (scale etcd to 4)",
      "record digests etcd-1,etcd-2,etcd-3,etcd-4",
      "etcd member remove etcd-4",
      "stop etcd on etcd-4",
      "terraform apply (scale etcd to 3)",
      "drain control-plane-1",
      "delete node control-plane-1",
      "terraform apply -replace control-plane-1",
      "uncordon control-plane-1",
    ]);
    expect(w.fake().maxMembersDown).toBe(1);
  });

  test("shrinking to a member count that tolerates no failure is refused with the reason", async () => {
    const w = world("external-etcd", externalWith(3), externalWith(2));
    expect(await rotateMain(["external-etcd"], w.deps)).toBe(1);
    expect(w.lines.at(-1)).toMatch(/shrinking from 3 to 2 etcd members leaves a cluster that tolerates no failure \(quorum 2 of 2\); refused/);
    expect(await rotateMain(["external-etcd", "--dry-run", "--allow-zero-tolerance"], w.deps)).toBe(0);
  });

  test("stacked control plane 2 -> 3 joins through kubeadm; 3 -> 2 drains, resets and deletes before the destroy", async () => {
    const three = shipped("five-server").replace("count: 2\n  instanceType: t3.medium", "count: 3\n  instanceType: t3.medium");
    const grow = world("five-server", shipped("five-server"), three);
    expect(await rotateMain(["five-server"], grow.deps)).toBe(0);
    expect(destructive(grow.fake().events)).toEqual(["terraform apply (scale control-plane to 3)", "record digests control-plane-1,control-plane-2"]);
    expect(grow.fake().members.map((member) => member.name).sort()).toEqual(["control-plane-1", "control-plane-2", "control-plane-3"]);

    const shrink = world("five-server", three, shipped("five-server"));
    expect(await rotateMain(["five-server", "--allow-zero-tolerance"], shrink.deps)).toBe(0);
    expect(destructive(shrink.fake().events)).toEqual([
      "drain control-plane-3",
      "kubeadm reset control-plane-3",
      "delete node control-plane-3",
      "terraform apply (scale control-plane to 2)",
      "record digests control-plane-1,control-plane-2",
    ]);
  });

  test("outdated lists stale nodes and membership steps", async () => {
    const after = externalWith(4).replace("count: 2\n  instanceType: t3.medium\nworkers", "count: 2\n  instanceType: t3.large\nworkers");
    const w = world("external-etcd", externalWith(3), after);
    expect(await outdatedMain(["external-etcd"], w.deps)).toBe(3);
    expect(w.lines).toEqual(expect.arrayContaining([
      "out of date: control-plane-1 (control-plane)",
      "out of date: control-plane-2 (control-plane)",
      "membership: add etcd-4 (etcd to 4)",
      "run: npm run rotate -- external-etcd (add --dry-run to see the steps)",
    ]));
    const current = world("five-server", shipped("five-server"), shipped("five-server"));
    expect(await outdatedMain(["five-server"], current.deps)).toBe(0);
    expect(current.lines.at(-1)).toBe("five-server: every node runs the spec's configuration");
  });

  test("outdated says an Auto Scaling group's instances are not tracked, and a current cluster still passes", async () => {
    const production = world("production", shipped("production"), shipped("production"));
    expect(await outdatedMain(["production"], production.deps)).toBe(0);
    expect(production.lines).toContain(
      "not tracked: the production-worker-asg Auto Scaling group's instances (rotate and upgrade leave them alone); " +
        "a launch template change reaches new instances only: aws autoscaling start-instance-refresh --auto-scaling-group-name production-worker-asg",
    );
    expect(production.lines.at(-1)).toBe("production: every node runs the spec's configuration");
  });
});

describe("upgrade", () => {
  const at = (version: string, spec = shipped("five-server")) => spec.replace('kubernetesVersion: "1.35.0"', `kubernetesVersion: "${version}"`);

  test("1.34.2 -> 1.35.0: apply on the init node, upgrade node on the others, drain around each kubelet, then reconfigure", async () => {
    const w = world("five-server", at("1.34.2"), at("1.35.0"), { version: "1.34.2" });
    expect(await upgradeMain(["five-server", "--to", "1.35.0"], w.deps)).toBe(0);
    const events = destructive(w.fake().events);
    const perNode = (node: string, upgradeCommand: string) => [
      `install kubeadm 1.35.0 on ${node}`,
      upgradeCommand,
      `drain ${node}`,
      `install kubelet 1.35.0 on ${node}`,
      `uncordon ${node}`,
    ];
    expect(events).toEqual([
      ...perNode("control-plane-1", "kubeadm upgrade apply 1.35.0 on control-plane-1"),
      ...perNode("control-plane-2", "kubeadm upgrade node on control-plane-2"),
      ...perNode("worker-1", "kubeadm upgrade node on worker-1"),
      ...perNode("worker-2", "kubeadm upgrade node on worker-2"),
      "upload ClusterConfiguration",
      "regenerate manifests on control-plane-1",
      "regenerate manifests on control-plane-2",
      "record digests control-plane-1,control-plane-2,worker-1,worker-2",
    ]);
    expect(w.fake().clusterVersionValue).toBe("1.35.0");
    expect(await outdatedMain(["five-server"], w.deps)).toBe(0);
  });

  test("--to the running version brings a leader-election change to the running control plane only", async () => {
    const after = shipped("five-server").replace("leaseDuration: 15s", "leaseDuration: 20s");
    const w = world("five-server", shipped("five-server"), after);
    expect(await upgradeMain(["five-server", "--to", "1.35.0", "--dry-run"], w.deps)).toBe(0);
    expect(w.lines.join("\n")).toMatch(/step 1\/1: ClusterConfiguration from the spec to the kubeadm-config ConfigMap and control-plane-1, control-plane-2/);
    expect(await upgradeMain(["five-server", "--to", "1.35.0"], w.deps)).toBe(0);
    expect(destructive(w.fake().events)).toEqual([
      "upload ClusterConfiguration",
      "regenerate manifests on control-plane-1",
      "regenerate manifests on control-plane-2",
    ]);
  });

  test.each([
    [["five-server"], "1.35.0", /--to 1.MINOR.PATCH is required/],
    [["five-server", "--to", "1.35"], "1.35.0", /--to: "1.35": expected a Kubernetes release 1.MINOR.PATCH/],
    [["five-server", "--to", "1.35.1"], "1.35.0", /clusters\/five-server.yaml says kubernetesVersion 1.35.0; set it to "1.35.1" first/],
    [["five-server", "--to", "1.36.0"], "1.35.0", /supports 1.31 to 1.35/],
  ])("upgrade %j is refused", async (argv, _running, message) => {
    const w = world("five-server", shipped("five-server"), shipped("five-server"));
    expect(await upgradeMain(argv, w.deps)).toBe(1);
    expect(w.lines.join("\n")).toMatch(message);
  });

  test("skipping a minor and downgrading are refused", async () => {
    const skip = world("five-server", at("1.33.4"), at("1.35.0"), { version: "1.33.4" });
    expect(await upgradeMain(["five-server", "--to", "1.35.0"], skip.deps)).toBe(1);
    expect(skip.lines.at(-1)).toMatch(/the cluster runs 1.33.4; kubeadm upgrades one minor at a time: upgrade to 1.34.x first/);
    const down = world("five-server", at("1.35.0"), at("1.34.2"));
    expect(await upgradeMain(["five-server", "--to", "1.34.2"], down.deps)).toBe(1);
    expect(down.lines.at(-1)).toMatch(/the cluster runs 1.35.0; kubeadm does not downgrade/);
    expect(destructive(skip.fake().events)).toEqual([]);
  });
});
