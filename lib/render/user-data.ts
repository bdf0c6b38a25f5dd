/**
 * A node's EC2 user-data: one #cloud-config document that sets the hostname, writes every file
 * the node receives and runs its boot entry point once. Holds no secret (user-data is readable by
 * anyone with ec2:DescribeInstanceAttribute and appears in the Terraform plan).
 */
import { stringify } from "yaml";
import type { ClusterNode, Topology } from "../topology";
import type { NodeFile } from "../node-file";
import { BOOT_ENTRY_PATH, renderNodeFiles } from "./node-files";

/** EC2 rejects user_data above 16 KB (before base64). */
export const USER_DATA_LIMIT_BYTES = 16384;

/** `files` defaults to renderNodeFiles(topology, node); callers that already have them pass them in. */
export function renderUserData(
  topology: Topology,
  node: ClusterNode,
  files: readonly NodeFile[] = renderNodeFiles(topology, node),
): string {
  const document = {
    hostname: node.name,
    // Maps the hostname to a loopback address so sudo and the kubelet resolve it without DNS.
    manage_etc_hosts: true,
    write_files: files.map((file) => ({
      path: file.path,
      owner: "root:root",
      permissions: file.permissions,
      content: file.content,
    })),
    // One entry: boot.sh stops at the first failing script and says which one.
    runcmd: [["bash", BOOT_ENTRY_PATH]],
  };
  const userData = `#cloud-config\n${stringify(document, { lineWidth: 0, blockQuote: "literal", indentSeq: false })}`;
  const size = Buffer.byteLength(userData, "utf8");
  if (size >= USER_DATA_LIMIT_BYTES) {
    throw new Error(`user-data: ${node.name} of stack ${topology.stack} is ${size} bytes; EC2 accepts less than ${USER_DATA_LIMIT_BYTES}`);
  }
  return userData;
}
