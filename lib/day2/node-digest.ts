/**
 * A node's configuration digest: everything it receives at creation and keeps until it is
 * replaced (user data with every file, instance type, image pin, root volume size). Two synths
 * give the same digest exactly when a rotation would give the node nothing new.
 */
import { createHash } from "crypto";
import type { ClusterNode, Topology } from "../topology";

export function nodeConfigDigest(topology: Topology, node: ClusterNode, userData: string): string {
  const hash = createHash("sha256");
  for (const part of [
    `instanceType=${node.instanceType}`,
    `ami=${topology.spec.nodes.amiId ?? "latest-ubuntu-24.04"}`,
    `rootVolumeGiB=${topology.spec.nodes.rootVolumeGiB}`,
    userData,
  ]) {
    hash.update(part).update("\0");
  }
  return hash.digest("hex");
}

/** The Terraform resource recording a node's digest, e.g. terraform_data.node_config_control-plane-2. */
export function nodeConfigResourceName(nodeName: string): string {
  return `node_config_${nodeName}`;
}
