/**
 * A node's EC2 user-data: one #cloud-config document that sets the hostname, writes every file
 * the node receives and runs its boot entry point once. Holds no secret (user-data is readable by
 * anyone with ec2:DescribeInstanceAttribute and appears in the Terraform plan).
 */
import { gzipSync } from "zlib";
import { stringify } from "yaml";
import { EC2_USER_DATA_LIMIT_BYTES, ec2UserData } from "../ec2";
import type { ClusterNode, Topology } from "../topology";
import type { NodeFile } from "../node-file";
import { BOOT_UNIT, renderNodeFiles } from "./node-files";

/** cloud-init's write_files mode when `permissions` is not given. */
export const DEFAULT_PERMISSIONS = "0644";

/** EC2's user data limit; re-exported for the tests. */
export const USER_DATA_LIMIT_BYTES = EC2_USER_DATA_LIMIT_BYTES;

/** `files` defaults to renderNodeFiles(topology, node); callers that already have them pass them in. */
export function renderUserData(
  topology: Topology,
  node: ClusterNode,
  files: readonly NodeFile[] = renderNodeFiles(topology, node),
): string {
  // Files stay plain text, so the user-data reads like the files it writes. Only a node whose
  // user-data would pass EC2's limit gets its largest files gzip+base64 encoded (cloud-init's
  // `encoding: gz+b64`), largest first and no more than needed; the review bundle's files/ folder
  // still shows every file as written on disk. A node that passes the limit even so gets the plain
  // document, gzipped as a whole by the stack.
  const bySize = [...files].sort((a, b) => b.content.length - a.content.length || a.path.localeCompare(b.path));
  // Each file is compressed once, however many documents are tried (up to one per file).
  const compress = gzipOncePerFile();
  // The sizes tried are computed, not rendered (a control-plane node tries 27 documents that never
  // fit): the write_files entries are independent blocks, so encoding a file changes the size by
  // the difference of its two entries. Only a document that fits by that count is rendered; the
  // tests check that the result is always the exhaustive search's (exhaustiveUserData).
  const plain = renderDocument(node, files, new Set(), compress);
  let size = Buffer.byteLength(plain, "utf8");
  for (let compressed = 0; compressed <= files.length; compressed += 1) {
    if (compressed > 0) size += entrySizeDifference(bySize[compressed - 1], compress);
    if (size >= USER_DATA_LIMIT_BYTES) continue;
    const userData = compressed === 0 ? plain : renderDocument(node, files, new Set(bySize.slice(0, compressed).map((file) => file.path)), compress);
    if (Buffer.byteLength(userData, "utf8") < USER_DATA_LIMIT_BYTES) return userData;
  }
  // Too large even so: the plain document, which the stack gzips as a whole (ec2UserData in lib/ec2.ts);
  // this throws if even that does not fit.
  ec2UserData(`${node.name} of stack ${topology.stack}`, plain);
  return plain;
}

/**
 * renderUserData's choice by rendering every candidate document, largest files encoded first:
 * the reference the tests hold renderUserData to.
 */
export function exhaustiveUserData(node: ClusterNode, files: readonly NodeFile[]): string {
  const bySize = [...files].sort((a, b) => b.content.length - a.content.length || a.path.localeCompare(b.path));
  const gzipBase64 = gzipOncePerFile();
  for (let compressed = 0; compressed <= files.length; compressed += 1) {
    const userData = renderWholeDocument(node, files, new Set(bySize.slice(0, compressed).map((file) => file.path)), gzipBase64);
    if (Buffer.byteLength(userData, "utf8") < USER_DATA_LIMIT_BYTES) return userData;
  }
  return renderWholeDocument(node, files, new Set(), gzipBase64);
}

/** A file's gz+b64 content, compressed at most once per file path for the caller's node. */
function gzipOncePerFile(): (file: NodeFile) => string {
  const gzipped = new Map<string, string>();
  return (file) => {
    let encoded = gzipped.get(file.path);
    if (encoded === undefined) {
      encoded = gzipSync(file.content, { level: 9 }).toString("base64");
      gzipped.set(file.path, encoded);
    }
    return encoded;
  };
}

/** cloud-init's runcmd on every node: load the boot unit, enable it (reboots) and start it. */
export function bootRuncmd(): string[][] {
  return [
    ["systemctl", "daemon-reload"],
    ["systemctl", "enable", "--now", "--no-block", BOOT_UNIT],
  ];
}

/**
 * The document of renderWholeDocument, assembled from its write_files entries rendered one by one:
 * entries are independent blocks, and a large cluster's nodes share most of their files (100
 * workers differ in a few), so each distinct entry is rendered once. The tests hold the result to
 * renderWholeDocument's (exhaustiveUserData).
 */
function renderDocument(
  node: ClusterNode,
  files: readonly NodeFile[],
  compress: ReadonlySet<string>,
  gzipBase64: (file: NodeFile) => string,
): string {
  if (files.length === 0) return renderWholeDocument(node, files, compress, gzipBase64);
  const head = stringify(documentHead(node), YAML_OPTIONS);
  const entries = files.map((file) => entryText(file, compress.has(file.path), gzipBase64)).join("");
  runcmdText ??= stringify({ runcmd: bootRuncmd() }, YAML_OPTIONS);
  return `#cloud-config\n${head}write_files:\n${entries}${runcmdText}`;
}

let runcmdText: string | undefined;
const entryTexts = new Map<string, string>();

/** One write_files entry as it stands in the document, ending with its newline. */
function entryText(file: NodeFile, encoded: boolean, gzipBase64: (file: NodeFile) => string): string {
  const key = `${encoded ? "gz" : ""}\0${file.path}\0${file.permissions}\0${file.content}`;
  let text = entryTexts.get(key);
  if (text === undefined) {
    const document = compactWriteFiles(stringify({ write_files: [writeFilesEntry(file, encoded, gzipBase64)] }, YAML_OPTIONS));
    if (!document.startsWith("write_files:\n")) throw new Error(`unexpected YAML for ${file.path}`);
    text = document.slice("write_files:\n".length);
    // Bounded: a long test run renders many clusters.
    if (entryTexts.size >= 4096) entryTexts.clear();
    entryTexts.set(key, text);
  }
  return text;
}

function renderWholeDocument(
  node: ClusterNode,
  files: readonly NodeFile[],
  compress: ReadonlySet<string>,
  gzipBase64: (file: NodeFile) => string,
): string {
  const document = {
    ...documentHead(node),
    // No `owner`, and no `permissions` where they are 0644: cloud-init's defaults (root:root,
    // 0644), and every byte counts against the 16 KB limit.
    write_files: files.map((file) => writeFilesEntry(file, compress.has(file.path), gzipBase64)),
    // runcmd runs once; the boot unit it starts retries a failed boot (boot.sh names the failed step).
    // --no-block: cloud-init finishes while the node boots in its own unit.
    runcmd: bootRuncmd(),
  };
  // The tests parse every node's user-data back (with this YAML library and with PyYAML, which
  // cloud-init uses) and compare it with the node's files; parsing here too would double the
  // cost of rendering a large cluster.
  return `#cloud-config\n${compactWriteFiles(stringify(document, YAML_OPTIONS))}`;
}

/** The keys before write_files, the same in both renderers. */
function documentHead(node: ClusterNode): { hostname?: string; manage_etc_hosts: true } {
  return {
    // A dynamic node keeps the hostname EC2 gives it (ip-10-0-0-77...); its Kubernetes node name
    // comes from its instance id (node-identity.sh).
    ...(node.dynamic ? {} : { hostname: node.name }),
    // Maps the hostname to a loopback address so sudo and the kubelet resolve it without DNS.
    manage_etc_hosts: true,
  };
}

const YAML_OPTIONS = { lineWidth: 0, blockQuote: "literal", indentSeq: false } as const;

function writeFilesEntry(file: NodeFile, encoded: boolean, gzipBase64: (file: NodeFile) => string): Record<string, string> {
  return {
    path: file.path,
    ...(file.permissions === DEFAULT_PERMISSIONS ? {} : { permissions: file.permissions }),
    ...(encoded ? { encoding: "gz+b64", content: gzipBase64(file) } : { content: file.content }),
  };
}

/** Bytes the document gains (or loses) when `file` is written gz+b64 encoded instead of as text. */
function entrySizeDifference(file: NodeFile, gzipBase64: (file: NodeFile) => string): number {
  return Buffer.byteLength(entryText(file, true, gzipBase64), "utf8") - Buffer.byteLength(entryText(file, false, gzipBase64), "utf8");
}

/**
 * Every line of every file costs its indentation in the user-data, about 450 lines on the init node.
 * The yaml library puts write_files entries at column 2 and their content at column 4; this moves
 * each entry's keys to column 1 (the entry starts on its own `-` line) and the content to column 2,
 * the least YAML allows:
 *
 *     write_files:
 *     -
 *      path: /etc/kubeadm-ha/cluster.env
 *      permissions: "0644"
 *      content: |
 *       # kubeadm-ha facts ...
 *
 * Only the write_files section is touched; content blocks with an explicit indentation indicator
 * are left as they are. The tests check that every node's result parses back to its files.
 */
function compactWriteFiles(yaml: string): string {
  let section = "";
  let inContent = false;
  const out: string[] = [];
  for (const line of yaml.split("\n")) {
    if (/^[^\s-]/.test(line)) {
      section = line;
      inContent = false;
      out.push(line);
      continue;
    }
    if (section !== "write_files:") {
      out.push(line);
      continue;
    }
    if (inContent && (line === "" || line.startsWith("    "))) {
      out.push(line.slice(2));
      continue;
    }
    inContent = false;
    if (line.startsWith("- ")) {
      out.push("-", ` ${line.slice(2)}`);
    } else if (line.startsWith("  ")) {
      out.push(line.slice(1));
    } else {
      out.push(line);
    }
    if (/^ {1,2}content: \|[-+]?$/.test(line)) inContent = true;
  }
  return out.join("\n");
}
