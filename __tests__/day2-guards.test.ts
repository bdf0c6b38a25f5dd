/**
 * Day 2 in the synthesized Terraform: every spec field classified (against the zod schema itself),
 * immutable and membership guards, per-node configuration records with their checks, the
 * per-role instance guards, and the one-node-at-a-time lifts the day-2 commands synthesize with.
 */
import { guardText } from "../lib/constructs/day2-guards";
// The module object itself (not an import wrapper), so spies see cdktf's calls.
import childProcess = require("child_process");
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { z } from "zod";
import { clusterSpecSchema } from "../lib/spec";
import { CHANGE_CLASSES, classifyChanges, fieldsOfClass, immutableGuardName, SPEC_FIELDS } from "../lib/day2/change-classes";
import { GuardLift, GuardLiftError, guardLiftEnv, guardLiftsFromEnv } from "../lib/day2/guard-lift";
import { ROLE_GUARDS } from "../lib/day2/role-guards";
import { ROLE_PROFILES } from "../lib/roles";
import { synthesizeClusters } from "../lib/app";
import { REPO_ROOT, shippedTopology } from "./support/specs";
import { shippedSynthOutdir } from "./support/shipped-synth";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Leaf field paths of a zod schema: objects are walked, everything else (lists, records, scalars) is a field. */
function schemaFields(schema: z.ZodType, prefix = ""): string[] {
  const def = (schema as unknown as { _zod: { def: Json } })._zod.def;
  if (["default", "prefault", "optional", "nullable", "readonly"].includes(def.type)) return schemaFields(def.innerType, prefix);
  if (def.type === "object") {
    return Object.entries(def.shape as Record<string, z.ZodType>).flatMap(([key, child]) => schemaFields(child, `${prefix}${key}.`));
  }
  return [prefix.slice(0, -1)];
}

describe("change classes", () => {
  test("every field of the spec schema has exactly one class, and the table names no other field", () => {
    const fields = schemaFields(clusterSpecSchema).sort();
    expect(fields.length).toBeGreaterThan(20);
    expect([...SPEC_FIELDS].sort()).toEqual(fields);
    for (const field of SPEC_FIELDS) {
      expect(["in-place", "rotation", "immutable"]).toContain(CHANGE_CLASSES[field].class);
      expect(CHANGE_CLASSES[field].how.length).toBeGreaterThan(10);
    }
  });

  test("the issue's immutable fields are immutable", () => {
    expect(fieldsOfClass("immutable")).toEqual(
      expect.arrayContaining(["network.vpcCidr", "network.availabilityZones", "etcd.topology", "cni.plugin", "network.podSubnet", "network.serviceSubnet"]),
    );
    expect(CHANGE_CLASSES.kubernetesVersion.class).toBe("rotation");
    expect(CHANGE_CLASSES["leaderElection.leaseDuration"].class).toBe("rotation");
    expect(CHANGE_CLASSES["workers.count"].class).toBe("in-place");
  });

  test("the role guards agree with the role profiles on replacing a node for its user data", () => {
    for (const role of Object.keys(ROLE_GUARDS) as (keyof typeof ROLE_GUARDS)[]) {
      expect(ROLE_GUARDS[role].replaceOnUserDataChange).toBe(ROLE_PROFILES[role].replaceOnUserDataChange);
    }
  });

  test("the runbook's table lists every field with its class, as the code does", () => {
    const docs = ["docs/operations.md", "docs/operations-changes.md"].map((file) => path.join(REPO_ROOT, file)).filter((file) => fs.existsSync(file));
    const text = docs.map((file) => fs.readFileSync(file, "utf8")).join("\n");
    const rows = [...text.matchAll(/^\| `([\w.]+)` \| (in-place|rotation|immutable) \|/gm)].map((match) => `${match[1]}:${match[2]}`);
    expect(rows.sort()).toEqual(SPEC_FIELDS.map((field) => `${field}:${CHANGE_CLASSES[field].class}`).sort());
  });

  test("classifyChanges names each changed field with its class", () => {
    const before = shippedTopology("five-server").spec;
    const after = { ...before, kubernetesVersion: "1.35.1", network: { ...before.network, vpcCidr: "10.1.0.0/16" }, tags: { team: "x" } };
    expect(classifyChanges(before, after).map(({ field, change }) => `${field}:${change.class}`)).toEqual([
      "kubernetesVersion:rotation",
      "network.vpcCidr:immutable",
      "tags:in-place",
    ]);
  });
});

const roots: string[] = [];
afterAll(() => roots.forEach((root) => fs.rmSync(root, { recursive: true, force: true })));

/** Synthesizes the shipped specs of `stacks` (default: those the lifts name) with the lifts. */
function synth(lifts: Record<string, GuardLift>, stacks: readonly string[] = Object.keys(lifts)): (stack: string) => Json {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "day2-guards-"));
  roots.push(root);
  const clustersDir = path.join(root, "clusters");
  fs.mkdirSync(clustersDir);
  for (const stack of stacks) fs.copyFileSync(path.join(REPO_ROOT, "clusters", `${stack}.yaml`), path.join(clustersDir, `${stack}.yaml`));
  const outdir = path.join(root, "cdktf.out");
  synthesizeClusters({ clustersDir, outdir, guardLifts: new Map(Object.entries(lifts)) });
  return (stack) => stackJson(outdir, stack);
}

const stackJson = (outdir: string, stack: string): Json => JSON.parse(fs.readFileSync(path.join(outdir, "stacks", stack, "cdk.tf.json"), "utf8"));

const instanceOf = (doc: Json, stack: string, node: string): Json =>
  Object.values(doc.resource.aws_instance as Record<string, Json>).find((instance) => instance.tags.Name === `${stack}-${node}`)!;
const data = (doc: Json, name: string): Json => doc.resource.terraform_data[name];

describe("guards in the synthesized stacks", () => {
  // Read-only: clusters/ as `npm run synth` writes it, shared with other suites.
  const plain = (stack: string): Json => stackJson(shippedSynthOutdir(), stack);

  test.each(["five-server", "external-etcd"])("%s: one prevent_destroy guard per immutable field, holding its value", (stack) => {
    const doc = plain(stack);
    const spec = shippedTopology(stack).spec;
    for (const field of fieldsOfClass("immutable")) {
      const guard = data(doc, immutableGuardName(field));
      expect(guard.lifecycle).toEqual({ prevent_destroy: true });
      expect(guard.triggers_replace).toEqual(guard.input);
    }
    expect(data(doc, "immutable_network_vpcCidr").triggers_replace).toBe(guardText(spec.network.vpcCidr));
    expect(data(doc, "immutable_network_availabilityZones").triggers_replace).toBe(guardText(spec.network.availabilityZones));
    expect(data(doc, "membership_controlPlane_count").triggers_replace).toBe(`count=${spec.controlPlane.count}`);
    expect(data(doc, "immutable_controlPlaneEndpoint").triggers_replace).toBe(guardText(shippedTopology(stack).controlPlaneEndpoint));
    expect(data(doc, "membership_controlPlane_count").lifecycle).toEqual({ prevent_destroy: true });
    expect(data(doc, "membership_etcd_members") !== undefined).toBe(stack === "external-etcd");
  });

  test.each(["five-server", "external-etcd"])("%s: instances carry their role's guards; a record and a check per rotated node", (stack) => {
    const doc = plain(stack);
    for (const node of shippedTopology(stack).nodes) {
      const instance = instanceOf(doc, stack, node.name);
      const guard = ROLE_GUARDS[node.role];
      // Ignored user data means both forms (user_data_base64 carries a node's document gzipped whole).
      expect(instance.lifecycle.ignore_changes).toEqual(guard.ignoreChanges.flatMap((a) => (a === "user_data" ? ["user_data", "user_data_base64"] : [a])));
      expect(instance.lifecycle.prevent_destroy ?? false).toBe(guard.preventDestroy);
      expect(instance.user_data_replace_on_change).toBe(guard.replaceOnUserDataChange);
      const record = data(doc, `node_config_${node.name}`);
      if (guard.replaceOnUserDataChange) {
        expect(record).toBeUndefined();
        continue;
      }
      expect(record.lifecycle).toEqual({ ignore_changes: ["input"] });
      expect(record.triggers_replace.instance).toMatch(/^\$\{aws_instance\.[^.]+\.id\}$/);
      expect(record.input.digest).toMatch(/^[0-9a-f]{64}$/);
      const check = doc.check[`node_config_${node.name}`].assert[0];
      expect(check.condition).toBe(`\${terraform_data.node_config_${node.name}.output.digest == "${record.input.digest}"}`);
      expect(check.error_message).toContain(`npm run rotate -- ${stack} --node ${node.name}`);
    }
    expect(["ami", "user_data", "instance_type"].every((attribute) => ROLE_GUARDS["control-plane"].ignoreChanges.includes(attribute))).toBe(true);
  });

  test("synth needs no Terraform binary: the guards run no `terraform version` (a process per node record)", () => {
    const spawned = [jest.spyOn(childProcess, "execSync"), jest.spyOn(childProcess, "spawnSync"), jest.spyOn(childProcess, "execFileSync")];
    try {
      const doc = synth({}, ["external-etcd"])("external-etcd");
      expect(Object.keys(doc.resource.terraform_data).length).toBeGreaterThan(10);
      for (const spy of spawned) expect(spy.mock.calls).toEqual([]);
      // Terraform itself refuses an older version at plan time.
      expect(doc.terraform.required_version).toBe(">= 1.10");
    } finally {
      for (const spy of spawned) spy.mockRestore();
    }
  });

  test("control-plane and etcd instances and KMS keys are protected; control-plane and etcd roles are in the table", () => {
    const doc = plain("external-etcd");
    for (const key of Object.values(doc.resource.aws_kms_key as Record<string, Json>)) expect(key.lifecycle).toEqual({ prevent_destroy: true });
    for (const node of ["control-plane-1", "control-plane-2", "etcd-1", "etcd-2", "etcd-3"]) {
      expect(instanceOf(doc, "external-etcd", node).lifecycle.prevent_destroy).toBe(true);
    }
  });

  test("security groups replace cleanly and IAM names carry the region", () => {
    const doc = plain("five-server");
    for (const group of Object.values(doc.resource.aws_security_group as Record<string, Json>)) {
      expect(group.name).toBeUndefined();
      expect(group.name_prefix).toMatch(/^five-server-[a-z-]+-$/);
      expect(group.lifecycle).toEqual({ create_before_destroy: true });
    }
    for (const type of ["aws_iam_role", "aws_iam_instance_profile"]) {
      for (const resource of Object.values(doc.resource[type] as Record<string, Json>)) {
        expect(resource.name).toMatch(/^five-server-eu-west-1-[a-z-]+$/);
        expect(resource.name.length).toBeLessThanOrEqual(64);
      }
    }
  });

  test("rotation lifts prevent_destroy for the named node alone, and the digests stay those of the plain synth", () => {
    const lifted = synth({ "external-etcd": { replaceNode: "etcd-2" } })("external-etcd");
    const doc = plain("external-etcd");
    for (const node of shippedTopology("external-etcd").nodes) {
      const instance = instanceOf(lifted, "external-etcd", node.name);
      const expected = node.name === "etcd-2" ? false : ROLE_GUARDS[node.role].preventDestroy;
      expect(instance.lifecycle.prevent_destroy ?? false).toBe(expected);
      if (node.role !== "load-balancer") {
        expect(data(lifted, `node_config_${node.name}`).input).toEqual(data(doc, `node_config_${node.name}`).input);
      }
    }
    // The replacement joins the running cluster, announced by `etcdctl member add`.
    expect(instanceOf(lifted, "external-etcd", "etcd-2").user_data).toContain("initial-cluster-state: existing");
    expect(instanceOf(doc, "external-etcd", "etcd-2").user_data).toContain("initial-cluster-state: new");
    expect(instanceOf(lifted, "external-etcd", "etcd-1").user_data).toBe(instanceOf(doc, "external-etcd", "etcd-1").user_data);
    // Every other guard stands.
    expect(data(lifted, "membership_etcd_members").lifecycle).toEqual({ prevent_destroy: true });
    expect(data(lifted, "immutable_network_vpcCidr").lifecycle).toEqual({ prevent_destroy: true });
  });

  test("a scaling step synthesizes the step's count with the role's membership guard lifted", () => {
    const grown = synth({ "external-etcd": { scale: { role: "etcd", count: 4 } } })("external-etcd");
    expect(data(grown, "membership_etcd_members")).toMatchObject({ triggers_replace: "count=4", lifecycle: { prevent_destroy: false } });
    expect(data(grown, "membership_controlPlane_count").lifecycle).toEqual({ prevent_destroy: true });
    const etcd4 = instanceOf(grown, "external-etcd", "etcd-4");
    expect(etcd4.user_data).toContain("initial-cluster-state: existing");
    expect(etcd4.lifecycle.prevent_destroy).toBe(true);
    expect(instanceOf(grown, "external-etcd", "etcd-3").user_data).toContain("initial-cluster-state: new");
    const shrunk = synth({ "five-server": { scale: { role: "control-plane", count: 1 } } })("five-server");
    expect(instanceOf(shrunk, "five-server", "control-plane-2")).toBeUndefined();
    expect(data(shrunk, "membership_controlPlane_count")).toMatchObject({ triggers_replace: "count=1", lifecycle: { prevent_destroy: false } });
  });

  test("KUBEADM_HA_ALLOW_DESTROY lifts every guard of its stack only", () => {
    const synthesized = synth({ "five-server": { allowDestroy: true } }, ["five-server", "external-etcd"]);
    const doc = synthesized("five-server");
    for (const resource of Object.values(doc.resource.terraform_data as Record<string, Json>)) {
      expect(resource.lifecycle?.prevent_destroy ?? false).toBe(false);
    }
    // The node identity's keys; the backup bucket's key outlives a teardown on purpose.
    for (const [id, key] of Object.entries(doc.resource.aws_kms_key as Record<string, Json>)) {
      if (id.startsWith("cluster_identity_")) expect(key.lifecycle.prevent_destroy).toBe(false);
    }
    expect(instanceOf(doc, "five-server", "control-plane-1").lifecycle.prevent_destroy).toBe(false);
    expect(instanceOf(synthesized("external-etcd"), "external-etcd", "control-plane-1").lifecycle.prevent_destroy).toBe(true);
  });
});

describe("guard lifts from the environment", () => {
  test("round trip", () => {
    const lift: GuardLift = { replaceNode: "control-plane-2" };
    expect(guardLiftsFromEnv(guardLiftEnv("five-server", lift)).get("five-server")).toEqual(lift);
    expect(guardLiftsFromEnv({ KUBEADM_HA_SCALE: "external-etcd/etcd=4" }).get("external-etcd")).toEqual({ scale: { role: "etcd", count: 4 } });
  });

  test.each([
    [{ KUBEADM_HA_REPLACE_NODE: "five-server" }, /KUBEADM_HA_REPLACE_NODE: "five-server": expected <stack>\/<node>/],
    [{ KUBEADM_HA_REPLACE_NODE: "five-server/control-plane-1,control-plane-2" }, /one node/],
    [{ KUBEADM_HA_SCALE: "five-server/worker=3" }, /KUBEADM_HA_SCALE: "five-server\/worker=3": expected <stack>\/<control-plane\|etcd>=<count>/],
  ])("%j is refused", (env, message) => {
    expect(() => guardLiftsFromEnv(env)).toThrow(GuardLiftError);
    expect(() => guardLiftsFromEnv(env)).toThrow(message);
  });

  test("synth refuses a lift for an unknown stack or node, or etcd scaling of stacked etcd", () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "day2-guards-bad-"));
    roots.push(outdir);
    const run = (lifts: Record<string, GuardLift>) => () =>
      synthesizeClusters({ clustersDir: path.join(REPO_ROOT, "clusters"), outdir, guardLifts: new Map(Object.entries(lifts)) });
    expect(run({ prod: { replaceNode: "control-plane-1" } })).toThrow(/stack "prod": no such stack; known: external-etcd, five-server/);
    expect(run({ "five-server": { replaceNode: "etcd-1" } })).toThrow(/five-server\/etcd-1: no such node; known: lb-1, control-plane-1/);
    expect(run({ "five-server": { scale: { role: "etcd", count: 3 } } })).toThrow(/etcd is stacked/);
    expect(fs.readdirSync(outdir)).toEqual([]);
  });
});
