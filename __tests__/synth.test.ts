/**
 * The whole app: shipped specs -> Terraform JSON + review bundle, consistent with each other,
 * and bad specs that stop synth with clear errors and nothing written.
 */
import * as fs from "fs";
import { gunzipSync } from "zlib";
import { escapeTerraformTemplate } from "../lib/terraform-escape";
import * as os from "os";
import * as path from "path";
import { synthesizeClusters } from "../lib/app";
import { SpecLoadError } from "../lib/load-specs";
import { renderPolicyReview } from "../lib/review-policies";
import { synthCommand } from "../lib/synth-command";
import { App, DataResource, TerraformOutput, TerraformStack } from "cdktf";
import { ClusterStack } from "../lib/cluster-stack";
import { REPO_ROOT, SHIPPED_CLUSTERS } from "./support/specs";
import { shippedSynthOutdir } from "./support/shipped-synth";

interface TerraformJson {
  resource: Record<string, Record<string, Record<string, unknown>>>;
  output?: Record<string, { value: unknown }>;
}

// Read-only: clusters/ as `npm run synth` writes it, shared with other suites.
let outdir: string;
beforeAll(() => {
  outdir = shippedSynthOutdir();
});

const read = (...parts: string[]) => fs.readFileSync(path.join(outdir, ...parts), "utf8");
const stackJson = (stack: string): TerraformJson => JSON.parse(read("stacks", stack, "cdk.tf.json"));
const instancesOf = (stack: string) => Object.values(stackJson(stack).resource.aws_instance ?? {}) as Array<{
  private_ip: string;
  user_data?: string;
  user_data_base64?: string;
  tags: Record<string, string>;
}>;
const nodeNameOf = (stack: string, tags: Record<string, string>) => tags.Name.replace(`${stack}-`, "");

test("cdktf's preparing pass, which ClusterStack skips, would change nothing in any shipped stack (no stack refers to another)", () => {
  const prepared = fs.mkdtempSync(path.join(os.tmpdir(), "synth-prepared-"));
  const preparingPass = jest.spyOn(TerraformStack.prototype, "prepareStack");
  let passes: number;
  process.env.KUBEADM_HA_CDKTF_PREPARE = "1";
  try {
    synthesizeClusters({ clustersDir: path.join(REPO_ROOT, "clusters"), outdir: prepared });
  } finally {
    delete process.env.KUBEADM_HA_CDKTF_PREPARE;
    passes = preparingPass.mock.calls.length;
    preparingPass.mockRestore();
  }
  // The pass really ran, once per stack: the comparison below is not of two skipped runs.
  expect(passes).toBe(SHIPPED_CLUSTERS.length);
  for (const stack of SHIPPED_CLUSTERS) {
    expect(fs.readFileSync(path.join(prepared, "stacks", stack, "cdk.tf.json"), "utf8")).toBe(read("stacks", stack, "cdk.tf.json"));
  }
  fs.rmSync(prepared, { recursive: true, force: true });
});

describe("with KUBEADM_HA_CDKTF_PREPARE unset, as a synth runs by default", () => {
  const saved = process.env.KUBEADM_HA_CDKTF_PREPARE;
  beforeEach(() => delete process.env.KUBEADM_HA_CDKTF_PREPARE);
  afterEach(() => {
    if (saved === undefined) delete process.env.KUBEADM_HA_CDKTF_PREPARE;
    else process.env.KUBEADM_HA_CDKTF_PREPARE = saved;
  });

  /**
   * Two plain stacks, the second referring to the first, that prepare the way ClusterStack does
   * (skip) or the way cdktf does, and with `checked` also refuse foreign references as
   * ClusterStack does. Returns both stacks' JSON.
   */
  const crossStackSynth = (skip: boolean, checked: boolean): string[] => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "cross-stack-"));
    const app = new App({ outdir, skipValidation: true });
    class Plain extends TerraformStack {
      public prepareStack(): void {
        if (skip) ClusterStack.prototype.prepareStack.call(this);
        else super.prepareStack();
      }
      public toTerraform(): any {
        return checked ? ClusterStack.prototype.toTerraform.call(this) : super.toTerraform();
      }
    }
    const record = new DataResource(new Plain(app, "origin"), "record", { input: { value: "x" } });
    new TerraformOutput(new Plain(app, "user"), "id", { value: record.id });
    try {
      app.synth();
      return ["origin", "user"].map((stack) => fs.readFileSync(path.join(outdir, "stacks", stack, "cdk.tf.json"), "utf8"));
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  };

  test("negative control: with a reference from one stack to another, skipping the preparing pass changes the output", () => {
    const [prepared, skipped] = [crossStackSynth(false, false), crossStackSynth(true, false)];
    expect(prepared[1]).toContain("terraform_remote_state");
    expect(skipped[1]).not.toContain("terraform_remote_state");
    expect(skipped).not.toEqual(prepared);
  });

  test("so a ClusterStack refuses to synthesize a reference to another stack, naming it and the way out", () => {
    const synth = (skip: boolean) => crossStackSynth(skip, true);
    expect(() => synth(true)).toThrow(/stack user refers to terraform_data\.record, which the stack does not define\..*delete ClusterStack\.prepareStack/);
    // With the preparing pass the reference becomes a remote-state lookup, which the check accepts.
    expect(() => synth(false)).not.toThrow();
  });
});

function listFiles(dir: string, prefix = ""): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(path.join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  ).sort();
}

describe.each(SHIPPED_CLUSTERS)("%s", (stack) => {
  test("Terraform JSON snapshot", () => {
    expect(stackJson(stack)).toMatchSnapshot();
  });

  // user-data.yaml is left out: it is asserted equal to the Terraform JSON, which has its own snapshot.
  test("review bundle snapshot: every file as written on the node", () => {
    const reviewDir = path.join(outdir, "review", stack);
    const files = listFiles(reviewDir).filter((file) => !file.endsWith("/user-data.yaml"));
    const bundle = Object.fromEntries(files.map((file) => [file, read("review", stack, file)]));
    expect(bundle).toMatchSnapshot();
  });

  test("topology.json agrees with the Terraform JSON", () => {
    const topology = JSON.parse(read("review", stack, "topology.json"));
    const instances = instancesOf(stack);
    expect(instances).toHaveLength(topology.nodes.length);
    const ipByName = Object.fromEntries(instances.map((i) => [nodeNameOf(stack, i.tags), i.private_ip]));
    for (const node of topology.nodes) expect(ipByName[node.name]).toBe(node.privateIp);
    const controlPlaneIps = topology.nodes.filter((n: { role: string }) => n.role === "control-plane").map((n: { privateIp: string }) => `${n.privateIp}:6443`);
    expect(topology.loadBalancer.backends).toEqual(controlPlaneIps);
    expect(topology.controlPlaneEndpoint).toBe(`${topology.loadBalancer.address}:6443`);
    expect(topology.etcd.endpoints).toHaveLength(topology.etcd.members);
  });

  test("each node's user-data.yaml is byte for byte its instance's user_data", () => {
    for (const instance of instancesOf(stack)) {
      const node = nodeNameOf(stack, instance.tags);
      const review = read("review", stack, "files", node, "user-data.yaml");
      if (instance.user_data_base64 === undefined) expect(review).toBe(instance.user_data);
      // Too large for plain text: the stack sends the same document gzipped (lib/ec2.ts); the review
      // shows it as text, with Terraform's template markers escaped like every plain user_data.
      else expect(escapeTerraformTemplate(gunzipSync(Buffer.from(instance.user_data_base64, "base64")).toString("utf8"))).toBe(review);
    }
  });

  test("policies.json shows every key policy and role policy of the Terraform JSON, fully readable", () => {
    const json = stackJson(stack) as unknown as { resource: Record<string, Record<string, any>>; data: Record<string, Record<string, any>> };
    const text = read("review", stack, "policies.json");
    expect(text).not.toContain("${");
    const review = JSON.parse(text);
    const aliases = Object.values(json.resource.aws_kms_alias).map((alias) => alias.name).sort();
    expect(Object.keys(review.kmsKeyPolicies)).toEqual(aliases);
    expect(Object.keys(review.roleInlinePolicies)).toHaveLength(Object.keys(json.resource.aws_iam_role_policy).length);
    const documents = json.data.aws_iam_policy_document;
    for (const [, key] of Object.entries(json.resource.aws_kms_key)) {
      const alias = Object.values(json.resource.aws_kms_alias).find((a) => a.target_key_id.includes(`.${Object.keys(json.resource.aws_kms_key).find((id) => json.resource.aws_kms_key[id] === key)}.`))!;
      const source = documents[/\.([^.]+)\.json\}$/.exec(key.policy)![1]].statement;
      const shown = review.kmsKeyPolicies[alias.name].Statement;
      expect(shown.map((st: { Sid: string }) => st.Sid)).toEqual(source.map((st: { sid: string }) => st.sid));
      expect(shown.map((st: { Action: string[] }) => st.Action)).toEqual(source.map((st: { actions: string[] }) => st.actions));
    }
    const workerAgent = review.roleInlinePolicies[`/kubeadm-ha/${stack}-eu-west-1-worker/session-manager`].Statement;
    expect(workerAgent.find((st: { Sid: string }) => st.Sid === "HeartbeatForThisClusterAndRole")).toEqual({
      Sid: "HeartbeatForThisClusterAndRole",
      Effect: "Allow",
      Action: ["ssm:UpdateInstanceInformation"],
      Resource: ["arn:<partition>:ec2:eu-west-1:<account>:instance/*"],
      Condition: { StringEquals: { "aws:ResourceTag/Cluster": [stack], "aws:ResourceTag/Role": ["worker"] } },
    });
  });

  test("outputs name the load-balancer endpoint and the node IPs", () => {
    const outputs = JSON.stringify(stackJson(stack).output);
    const topology = JSON.parse(read("review", stack, "topology.json"));
    expect(outputs).toContain(topology.controlPlaneEndpoint);
    for (const node of topology.nodes) expect(outputs).toContain(node.privateIp);
  });
});

test("policies.json refuses a policy it cannot trace to a policy document", () => {
  const dangling = { resource: { aws_kms_key: { k: { policy: "${aws_s3_bucket.x.policy}" } }, aws_kms_alias: { a: { name: "alias/x", target_key_id: "${aws_kms_key.k.key_id}" } } } };
  expect(() => renderPolicyReview(dangling)).toThrow(/alias\/x: the policy is not a policy document of the stack/);
  expect(() => renderPolicyReview({ resource: { aws_kms_alias: { a: { name: "alias/y", target_key_id: "key-1" } } } })).toThrow(/alias\/y: the alias does not target a key/);
});

test("the five-server review page states the zero-failure etcd warning", () => {
  const page = read("review", "five-server", "REVIEW.md");
  expect(page).toMatch(/2 members stacked on the control-plane nodes tolerate zero failures/);
  expect(page).toMatch(/\| one control-plane node \| \*\*no\*\* \|/);
  expect(JSON.parse(read("review", "five-server", "topology.json")).etcd).toEqual({
    endpoints: ["https://10.0.0.20:2379", "https://10.0.32.20:2379"],
    members: 2,
    quorum: 2,
    failuresTolerated: 0,
  });
});

test("a re-synth removes review files of nodes and stacks that no longer exist, and keeps the rest", () => {
  const target = fs.mkdtempSync(path.join(os.tmpdir(), "resynth-"));
  const clustersDir = fs.mkdtempSync(path.join(os.tmpdir(), "clusters-"));
  fs.writeFileSync(path.join(clustersDir, "grow.yaml"), "workers: {count: 3}\n");
  fs.writeFileSync(path.join(clustersDir, "gone.yaml"), "workers: {count: 1}\n");
  synthesizeClusters({ clustersDir, outdir: target });
  expect(fs.existsSync(path.join(target, "review", "grow", "files", "worker-3", "kubeadm.yaml"))).toBe(true);
  const kept = path.join(target, "review", "grow", "files", "worker-1", "kubeadm.yaml");
  const before = fs.readFileSync(kept, "utf8");

  fs.rmSync(path.join(clustersDir, "gone.yaml"));
  fs.writeFileSync(path.join(clustersDir, "grow.yaml"), "workers: {count: 2}\n");
  synthesizeClusters({ clustersDir, outdir: target });
  expect(fs.existsSync(path.join(target, "review", "grow", "files", "worker-3"))).toBe(false);
  expect(fs.existsSync(path.join(target, "review", "gone"))).toBe(false);
  expect(fs.readFileSync(kept, "utf8")).toBe(before);
});

describe("bad specs", () => {
  function clustersWith(files: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clusters-"));
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
    return dir;
  }

  test("one invalid spec stops the whole synth and writes no stack", () => {
    const clustersDir = clustersWith({ "good.yaml": "controlPlane: {count: 3}\n", "bad.yaml": "workers: {count: -1}\n" });
    const target = fs.mkdtempSync(path.join(os.tmpdir(), "out-"));
    expect(() => synthesizeClusters({ clustersDir, outdir: target })).toThrow(SpecLoadError);
    expect(fs.readdirSync(target)).toEqual([]);
  });

  test("an empty or missing folder is an error, not an empty synth", () => {
    expect(() => synthesizeClusters({ clustersDir: clustersWith({}) })).toThrow(/no cluster specs/);
    expect(() => synthesizeClusters({ clustersDir: path.join(os.tmpdir(), "does-not-exist") })).toThrow(/not a folder of cluster specs/);
  });

  test("two files for one stack name are rejected", () => {
    expect(() => synthesizeClusters({ clustersDir: clustersWith({ "a1.yaml": "", "a1.yml": "" }) })).toThrow(/stack name already used/);
  });

  test("`npm run synth` fails with file: field: value: accepted and writes nothing, and prints warnings", () => {
    // main.ts's command in-process; __tests__/integration/entry-points.test.ts runs it as a process.
    const clustersDir = clustersWith({ "prod.yaml": "controlPlane: {cuont: 2}\n" });
    const bad = synthInProcess({ CLUSTERS_DIR: clustersDir, CDKTF_OUTDIR: path.join(clustersDir, "out") });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("prod.yaml: controlPlane.cuont: 2: unknown field; accepted here: count, instanceType");
    expect(fs.existsSync(path.join(clustersDir, "out"))).toBe(false);

    fs.writeFileSync(path.join(clustersDir, "prod.yaml"), "controlPlane: {count: 2}\n");
    const good = synthInProcess({ CLUSTERS_DIR: clustersDir, CDKTF_OUTDIR: path.join(clustersDir, "out") });
    expect(good.status).toBe(0);
    expect(good.stderr).toMatch(/warning: prod \(.*prod\.yaml\): etcd: 2 members stacked on the control-plane nodes tolerate zero failures/);
    expect(good.stdout).toMatch(/^synthesized prod -> .*out\/stacks, review bundle -> .*out\/review$/m);
    expect(fs.existsSync(path.join(clustersDir, "out", "stacks", "prod", "cdk.tf.json"))).toBe(true);
  });
});

/** main.ts's command in this process, with `env` over this process's environment. */
function synthInProcess(env: Record<string, string>): { status: number; stdout: string; stderr: string } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const status = synthCommand({ ...process.env, ...env }, { out: (line) => stdout.push(`${line}\n`), err: (line) => stderr.push(`${line}\n`) });
  return { status, stdout: stdout.join(""), stderr: stderr.join("") };
}

describe("ha-report.json and strict mode", () => {
  test.each(SHIPPED_CLUSTERS)("%s: ha-report.json agrees with topology.json", (stack) => {
    const report = JSON.parse(read("review", stack, "ha-report.json"));
    const topology = JSON.parse(read("review", stack, "topology.json"));
    expect(report.stack).toBe(stack);
    expect(report.etcd).toMatchObject({ quorum: topology.etcd.quorum, failuresTolerated: topology.etcd.failuresTolerated });
    expect(report.etcd.members).toHaveLength(topology.etcd.members);
    expect(report.loadBalancer).toMatchObject({ kind: topology.loadBalancer.kind, endpoint: topology.controlPlaneEndpoint, backends: topology.loadBalancer.backends });
    expect(report.leaderElection.worstCaseTakeoverSeconds).toBe(topology.leaderElection.worstCaseTakeoverSeconds);
    expect(report.warnings.map((w: { message: string }) => w.message)).toEqual(topology.warnings);
  });

  const synth = (clustersDir: string, env: Record<string, string>) =>
    synthInProcess({ CLUSTERS_DIR: clustersDir, CDKTF_OUTDIR: path.join(clustersDir, "out"), ...env });

  test("KUBEADM_HA_STRICT=1 makes every HA warning a synth error and writes nothing", () => {
    const clustersDir = fs.mkdtempSync(path.join(os.tmpdir(), "clusters-"));
    fs.writeFileSync(path.join(clustersDir, "prod.yaml"), "controlPlane: {count: 2}\n");
    const strict = synth(clustersDir, { KUBEADM_HA_STRICT: "1" });
    expect(strict.status).toBe(1);
    expect(strict.stderr).toMatch(/prod\.yaml: controlPlane\.count: 2: HA warning refused by strict mode \(KUBEADM_HA_STRICT=1\): etcd: 2 members/);
    expect(strict.stderr).toMatch(/prod\.yaml: loadBalancer\.kind: "haproxy": HA warning refused by strict mode/);
    expect(fs.existsSync(path.join(clustersDir, "out"))).toBe(false);

    const bad = synth(clustersDir, { KUBEADM_HA_STRICT: "yes" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('KUBEADM_HA_STRICT: "yes": expected 1');

    const relaxed = synth(clustersDir, { KUBEADM_HA_STRICT: "0" });
    expect(relaxed.status).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(clustersDir, "out", "review", "prod", "ha-report.json"), "utf8")).strict).toEqual({ spec: false, passes: false });
  });
});
