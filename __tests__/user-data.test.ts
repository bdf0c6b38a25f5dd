import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { gunzipSync } from "zlib";
import { parse } from "yaml";
import { DEFAULT_PERMISSIONS, exhaustiveUserData, renderUserData, USER_DATA_LIMIT_BYTES } from "../lib/render/user-data";
import { ec2UserData } from "../lib/ec2";
import { renderNodeFiles, BOOT_ENTRY_PATH, BOOT_UNIT, BOOT_UNIT_PATH } from "../lib/render/node-files";
import { KUBEADM_CONFIG_PATH, KUBEADM_CONFIG_TEMPLATE_PATH, KUBEADM_JOIN_CONFIG_PATH } from "../lib/render/kubeadm";
import { CNI_RESOURCE_PATH } from "../lib/render/cni";
import type { ClusterNode, Topology } from "../lib/topology";
import { inlineTopology, shippedTopology, SHIPPED_CLUSTERS } from "./support/specs";
import { cloudInitSchemaAll, type CloudInitSchemaResult } from "./support/cloud-init-schema";

interface WriteFile {
  path: string;
  content: string;
  permissions?: string;
  owner?: string;
}

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeadm-ha-user-data-"));
afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

/** Bytes EC2 receives: the document, or its gzip when the stack sends it compressed (lib/ec2.ts). */
function ec2Bytes(userData: string): number {
  const encoded = ec2UserData("test", userData);
  return "userData" in encoded ? Buffer.byteLength(encoded.userData) : Buffer.from(encoded.userDataBase64, "base64").length;
}

// Each node's document is read back by several tests: parsed once (the tests only read the result).
const parsedDocuments = new Map<string, { write_files: WriteFile[]; [key: string]: unknown }>();
function parsed(userData: string) {
  let document = parsedDocuments.get(userData);
  if (document === undefined) {
    document = parse(userData) as { write_files: WriteFile[] };
    parsedDocuments.set(userData, document);
  }
  return document;
}

function writeFiles(userData: string): WriteFile[] {
  return parsed(userData).write_files;
}

/** write_files as cloud-init writes them: gz+b64 entries decoded. */
function decodedWriteFiles(userData: string): WriteFile[] {
  return writeFiles(userData).map((file): WriteFile => {
    const { encoding, ...rest } = file as WriteFile & { encoding?: string };
    return encoding === "gz+b64" ? { ...rest, content: gunzipSync(Buffer.from(file.content, "base64")).toString("utf8") } : file;
  });
}

const cases: [string, string, Topology, ClusterNode][] = SHIPPED_CLUSTERS.flatMap((stack) => {
  const topology = shippedTopology(stack);
  // The Auto Scaling group's launch template too: every instance of it boots this user data.
  const template = topology.workerAutoScaling ? [topology.workerAutoScaling.template] : [];
  return [...topology.nodes, ...template].map((node): [string, string, Topology, ClusterNode] => [stack, node.name, topology, node]);
});

// The documents below, built while the tests are collected: every shipped node's user-data, and
// those of the tests further down. All go through cloud-init's schema validation and PyYAML in one
// process, started once.
const schemaDocuments: Record<string, string> = Object.fromEntries(
  cases.map(([stack, name, topology, node]) => [`${stack}-${name}`, renderUserData(topology, node)]),
);
let schemaResults: Record<string, CloudInitSchemaResult>;
beforeAll(() => {
  schemaResults = cloudInitSchemaAll(workDir, schemaDocuments);
});

describe.each(cases)("%s %s", (stack, name, topology, node) => {
  const userData = renderUserData(topology, node);

  test("is a #cloud-config that the real cloud-init schema accepts", () => {
    expect(userData.startsWith("#cloud-config\n")).toBe(true);
    const result = schemaResults[`${stack}-${name}`];
    expect(result.message).toMatch(/Valid cloud-config/);
    expect(result.valid).toBe(true);
  });

  test(`stays under EC2's ${USER_DATA_LIMIT_BYTES}-byte user_data limit`, () => {
    expect(ec2Bytes(userData)).toBeLessThan(USER_DATA_LIMIT_BYTES);
  });

  test("sets the hostname, writes every node file verbatim and runs the boot entry point", () => {
    const document = parsed(userData);
    // A dynamic node keeps the hostname EC2 gives it; its node name comes from its instance id.
    expect(document.hostname).toBe(node.dynamic ? undefined : node.name);
    // runcmd only starts the boot unit, which runs boot.sh and retries it after a failure.
    expect(document.runcmd).toEqual([["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", "--no-block", BOOT_UNIT]]);
    const unit = decodedWriteFiles(userData).find((file) => file.path === BOOT_UNIT_PATH)!.content;
    expect(unit).toMatch(new RegExp(`^ExecStart=/bin/bash ${BOOT_ENTRY_PATH}$`, "m"));
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^StartLimitIntervalSec=0$/m);
    expect(unit).toMatch(/^WantedBy=multi-user.target$/m);
    // owner and 0644 are cloud-init's defaults (root:root, 0644) and left out.
    expect(decodedWriteFiles(userData).map((file) => ({ ...file, owner: file.owner ?? "root:root", permissions: file.permissions ?? DEFAULT_PERMISSIONS }))).toEqual(
      renderNodeFiles(topology, node).map((file) => ({ path: file.path, owner: "root:root", permissions: file.permissions, content: file.content })),
    );
  });

  test("PyYAML, which cloud-init uses, reads the same files as the renderer wrote", () => {
    expect(schemaResults[`${stack}-${name}`].writeFiles).toEqual(parsed(userData).write_files);
  });

  test("is stable: rendering twice gives identical bytes", () => {
    expect(renderUserData(topology, node)).toBe(userData);
  });

  test("gets the right files for its role", () => {
    const paths = decodedWriteFiles(userData).map((file) => file.path);
    const has = (suffix: string) => paths.some((file) => file.endsWith(suffix));
    expect(has("haproxy.cfg") || has("nginx.conf")).toBe(node.role === "load-balancer");
    expect(has("/etc/etcd/etcd.conf.yml")).toBe(node.role === "etcd");
    expect(has("/etc/systemd/system/etcd.service")).toBe(node.role === "etcd");
    expect(has("etcd-pki.sh")).toBe(node.role === "etcd");
    expect(paths.includes(CNI_RESOURCE_PATH)).toBe(node === topology.initNode);
    expect(has("init-control-plane.sh")).toBe(node === topology.initNode);
    // The init node too: a replacement of it joins the running cluster (kubeadm-join.yaml).
    expect(has("join-node.sh")).toBe(node.role === "control-plane" || node.role === "worker");
    expect(paths.includes(KUBEADM_JOIN_CONFIG_PATH)).toBe(node === topology.initNode);
    expect(has("refresh-join-token.sh")).toBe(node.role === "control-plane");
    const kubeadm = decodedWriteFiles(userData).find((file) => file.path === (node.dynamic ? KUBEADM_CONFIG_TEMPLATE_PATH : KUBEADM_CONFIG_PATH));
    expect(has("node-identity.sh")).toBe(node.dynamic === true);
    expect(kubeadm !== undefined).toBe(node.role === "control-plane" || node.role === "worker");
    if (kubeadm) {
      expect(kubeadm.content.includes("kind: InitConfiguration")).toBe(node === topology.initNode);
      expect(kubeadm.content.includes("kind: JoinConfiguration")).toBe(node !== topology.initNode);
    }
    const env = decodedWriteFiles(userData).find((file) => file.path === "/etc/kubeadm-ha/cluster.env");
    // A worker does not even learn where control-plane material is kept.
    expect(env?.content.includes("/control-plane")).toBe(node.role === "control-plane" || node.role === "etcd");
  });

  test("base names are unique on the node", () => {
    const bases = renderNodeFiles(topology, node).map((file) => path.posix.basename(file.path));
    expect(new Set(bases).size).toBe(bases.length);
  });
});

test("is stable without the renderers' memos: a fresh copy of the modules renders every shipped node's user-data byte for byte", () => {
  let fresh: { renderUserData: typeof renderUserData } | undefined;
  jest.isolateModules(() => {
    fresh = require("../lib/render/user-data");
  });
  expect(fresh!.renderUserData).not.toBe(renderUserData);
  for (const [stack, name, topology, node] of cases) expect(fresh!.renderUserData(topology, node)).toBe(schemaDocuments[`${stack}-${name}`]);
});

test("production's Auto Scaling group template: identity from the instance at boot, nothing planned at synth", () => {
  const topology = shippedTopology("production");
  const template = topology.workerAutoScaling!.template;
  const files = decodedWriteFiles(renderUserData(topology, template));
  const env = files.find((file) => file.path === "/etc/kubeadm-ha/cluster.env")!.content;
  expect(env).not.toMatch(/^NODE_(NAME|IP)=/m);
  expect(env).toMatch(/^NODE_IDENTITY='imds'$/m);
  expect(env).toMatch(/^CLUSTER_ZONES='eu-west-1a eu-west-1b eu-west-1c'$/m);
  // Its last line derives the identity: every script that sources cluster.env then has NODE_NAME.
  expect(env.trimEnd().split("\n").pop()).toBe('. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/node-identity.sh"');
  const kubeadm = files.find((file) => file.path === KUBEADM_CONFIG_TEMPLATE_PATH)!;
  expect(kubeadm.permissions).toBe("0600");
  expect(kubeadm.content).toContain('name: "@NODE_NAME@"');
  expect(kubeadm.content).toContain('{name: node-ip, value: "@NODE_IP@"}');
  expect(kubeadm.content).toContain("topology.kubernetes.io/zone=@NODE_ZONE@");
  expect(files.some((file) => file.path === KUBEADM_CONFIG_PATH)).toBe(false);
  // No static address of any node is baked in beyond the endpoint's name.
  for (const node of topology.nodes) expect(files.map((file) => file.content).join("\n")).not.toContain(node.privateIp);
});

const bigFlannel = inlineTopology(
  "big-flannel",
  "controlPlane: {count: 7}\nworkers: {count: 3}\ncni: {plugin: flannel}\nloadBalancer: {kind: nginx}\n",
);
for (const node of bigFlannel.nodes) schemaDocuments[`big-${node.name}`] = renderUserData(bigFlannel, node);

test("a flannel cluster with nginx and 7 control-plane nodes also fits and validates", () => {
  for (const node of bigFlannel.nodes) {
    expect(ec2Bytes(schemaDocuments[`big-${node.name}`])).toBeLessThan(USER_DATA_LIMIT_BYTES);
    const result = schemaResults[`big-${node.name}`];
    expect(result.message).toMatch(/Valid cloud-config/);
    expect(result.valid).toBe(true);
  }
});

test.each(["calico", "flannel"])("the largest spec (32-character stack name, 7 control-plane nodes, 7 external etcd members, %s) fits", (plugin) => {
  const topology = inlineTopology(
    "a-stack-name-of-32-characters-xy",
    `controlPlane: {count: 7}\nworkers: {count: 3}\netcd: {topology: external, members: 7, version: "3.6.4"}\ncni: {plugin: ${plugin}}\n`,
  );
  expect(topology.stack).toHaveLength(32);
  for (const node of topology.nodes) {
    const userData = renderUserData(topology, node);
    expect(ec2Bytes(userData)).toBeLessThan(USER_DATA_LIMIT_BYTES);
    const written = decodedWriteFiles(userData).map((file) => ({
      path: file.path,
      permissions: file.permissions ?? DEFAULT_PERMISSIONS,
      content: file.content,
    }));
    expect(written).toEqual(renderNodeFiles(topology, node).map((file) => ({ path: file.path, permissions: file.permissions, content: file.content })));
  }
});

// A worker with one file padded past what plain text can carry; the rest must stay readable.
const oversized = (() => {
  const topology = shippedTopology("five-server");
  const node = topology.workers[0];
  const padded = renderNodeFiles(topology, node).map((file) =>
    (file.path === KUBEADM_CONFIG_PATH ? { ...file, content: `${file.content}# ${"x".repeat(9000)}\n` } : file));
  return { padded, userData: renderUserData(topology, node, padded) };
})();
schemaDocuments.compressed = oversized.userData;

test("a node whose files exceed the limit gets its largest files gzip+base64 encoded, and only those", () => {
  const { padded, userData } = oversized;
  expect(Buffer.byteLength(userData)).toBeLessThan(USER_DATA_LIMIT_BYTES);
  const written = (parse(userData).write_files as { path: string; encoding?: string; content: string }[]);
  const encoded = written.filter((entry) => entry.encoding === "gz+b64");
  expect(encoded.length).toBeGreaterThan(0);
  expect(encoded.length).toBeLessThan(written.length);
  expect(encoded.map((entry) => entry.path)).toContain(KUBEADM_CONFIG_PATH);
  for (const entry of written) {
    const original = padded.find((file) => file.path === entry.path)!.content;
    const content = entry.encoding === "gz+b64" ? gunzipSync(Buffer.from(entry.content, "base64")).toString("utf8") : entry.content;
    expect(content).toBe(original);
  }
  const result = schemaResults.compressed;
  expect(result.message).toMatch(/Valid cloud-config/);
  expect(result.valid).toBe(true);
});

test("the encoded-file choice counts sizes without rendering each candidate, and always picks what rendering them all picks", () => {
  const topologies = [
    ...SHIPPED_CLUSTERS.map((name) => shippedTopology(name)),
    inlineTopology("big", "controlPlane: {count: 7}\netcd: {topology: external, members: 7}\nworkers: {count: 2}\n"),
  ];
  let cases = 0;
  for (const topology of topologies) {
    // One node of each role (the others of a role differ in names and addresses only).
    // ... and the Auto Scaling group's launch template (a dynamic node: no hostname).
    const nodes = [
      ...new Map(topology.nodes.map((node) => [node.role, node])).values(),
      ...(topology.workerAutoScaling ? [topology.workerAutoScaling.template] : []),
    ];
    for (const node of nodes) {
      const files = renderNodeFiles(topology, node);
      // Padding one file to sizes around the limit, so different counts of encoded files are the answer.
      for (const padding of [0, 3000, 5000, 8000, 16000]) {
        const padded = files.map((file, index) => (index === 0 ? { ...file, content: `${file.content}# ${"y".repeat(padding)}\n` } : file));
        let expected: string | Error;
        try {
          expected = exhaustiveUserData(node, padded);
          ec2UserData("x", expected);
        } catch (error) {
          expected = error as Error;
        }
        if (expected instanceof Error) expect(() => renderUserData(topology, node, padded)).toThrow();
        else expect(renderUserData(topology, node, padded)).toBe(expected);
        cases += 1;
      }
    }
  }
  expect(cases).toBeGreaterThan(50);
});

test("a node that does not fit even so gets the plain document, which the stack sends gzipped whole", () => {
  const topology = shippedTopology("five-server");
  const node = topology.initNode;
  const files = renderNodeFiles(topology, node);
  // Incompressible bytes: per-file encoding cannot save enough, the whole document's gzip can.
  const extra = { path: "/x", permissions: "0644", content: require("crypto").randomBytes(3000).toString("hex") };
  const userData = renderUserData(topology, node, [...files, extra]);
  expect(Buffer.byteLength(userData)).toBeGreaterThanOrEqual(USER_DATA_LIMIT_BYTES);
  expect(writeFiles(userData).some((file) => (file as { encoding?: string }).encoding)).toBe(false);
  const encoded = ec2UserData("init", userData);
  expect("userDataBase64" in encoded).toBe(true);
  if ("userDataBase64" in encoded) expect(gunzipSync(Buffer.from(encoded.userDataBase64, "base64")).toString("utf8")).toBe(userData);
  expect(ec2Bytes(userData)).toBeLessThan(USER_DATA_LIMIT_BYTES);
  expect(() => renderUserData(topology, node, [...files, { ...extra, content: require("crypto").randomBytes(20000).toString("hex") }]))
    .toThrow(/even gzip-compressed; EC2 accepts less than 16384/);
});

const BROKEN = "#cloud-config\nwrite_files:\n- path: /x\n  permissions: 644\nruncmd: 3\n";
// The broken document between two good ones, then again: one bad file must not hide the next file's result.
Object.assign(schemaDocuments, { broken: BROKEN, "after-broken": schemaDocuments["five-server-control-plane-1"], "broken-again": BROKEN });

test("negative control: the one-process validator rejects a broken document with cloud-init's messages, and goes on", () => {
  // __tests__/integration/cloud-init-cli.test.ts holds this validator to the `cloud-init schema` CLI.
  expect(schemaResults.broken.valid).toBe(false);
  expect(schemaResults.broken.message).toMatch(/runcmd: 3 is not of type 'array'/);
  expect(schemaResults.broken.message).toMatch(/permissions: 644 is not of type 'string'/);
  expect(schemaResults["after-broken"].valid).toBe(true);
  expect(schemaResults["broken-again"].valid).toBe(false);
});
