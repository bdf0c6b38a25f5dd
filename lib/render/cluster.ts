/**
 * A cluster's rendered nodes: every node's files and user-data, rendered once and shared by the
 * stack, the review bundle and the day-2 commands (which compare the digests with the running nodes).
 */
import type { GuardLift } from "../day2/guard-lift";
import { nodeConfigDigest } from "../day2/node-digest";
import type { NodeFile } from "../node-file";
import type { Topology } from "../topology";
import { renderNodeFiles } from "./node-files";
import { renderUserData } from "./user-data";

export interface RenderedNode {
  readonly files: readonly NodeFile[];
  /**
   * The node's user-data document: as rendered from renderCluster; the review bundle's copy is the
   * text exactly as the instance's user_data stands in the synthesized JSON (lib/app.ts).
   */
  readonly userData: string;
}

export interface RenderedCluster {
  readonly topology: Topology;
  readonly nodes: Map<string, RenderedNode>;
  /** Configuration digest by node name, of the files the node gets on an ordinary synth. */
  readonly digests: Map<string, string>;
}

/** Renders every node's files and user-data once; the stack and the review bundle share the result. */
export function renderCluster(topology: Topology, lift?: GuardLift): RenderedCluster {
  const nodes = new Map<string, RenderedNode>();
  const digests = new Map<string, string>();
  for (const node of topology.nodes) {
    const files = renderNodeFiles(topology, node);
    const userData = renderUserData(topology, node, files);
    digests.set(node.name, nodeConfigDigest(topology, node, userData));
    if (node.role === "etcd" && joinsRunningEtcd(topology, node.name, lift)) {
      // Announced with `etcdctl member add` by the rotation; the digest stays that of the
      // ordinary rendering, which is what the next synth compares with.
      const joining = renderNodeFiles(topology, node, "existing");
      nodes.set(node.name, { files: joining, userData: renderUserData(topology, node, joining) });
    } else {
      nodes.set(node.name, { files, userData });
    }
  }
  const template = topology.workerAutoScaling?.template;
  if (template) {
    // The Auto Scaling group's launch template: no day-2 digest (its instances are outside rotate
    // and outdated: a new launch template version reaches instances launched afterwards).
    const files = renderNodeFiles(topology, template);
    nodes.set(template.name, { files, userData: renderUserData(topology, template, files) });
  }
  return { topology, nodes, digests };
}

/** The external etcd node a day-2 step adds to the running cluster: the replaced one, or the newest when growing. */
function joinsRunningEtcd(topology: Topology, nodeName: string, lift: GuardLift | undefined): boolean {
  if (!lift) return false;
  if (lift.replaceNode === nodeName) return true;
  return lift.scale?.role === "etcd" && topology.etcdNodes[topology.etcdNodes.length - 1]?.name === nodeName;
}
