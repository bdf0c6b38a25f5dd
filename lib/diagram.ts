/**
 * Mermaid diagrams for REVIEW.md (GitHub renders ```mermaid blocks natively): where the nodes run,
 * by zone and role, with the load balancer's backends and the etcd members (the API servers' etcd
 * traffic is in the second diagram, from the rules); and which ports are
 * open between the security groups, taken from the stack's actual rules (lib/security-rules.ts).
 * Deterministic: the same topology and rules give the same text, so snapshots stay stable.
 */
import type { ClusterNode, NodeRole, Topology } from "./topology";
import { API_SERVER_PORT } from "./topology";
import { portLabel, SecurityRule } from "./security-rules";

/** A zone box lists at most this many node names of one role; the rest are counted. */
const NAMES_PER_BOX = 4;

const ROLE_ORDER: readonly NodeRole[] = ["load-balancer", "control-plane", "etcd", "worker"];

export function renderPlacementDiagram(topology: Topology): string {
  const lines = ["flowchart TB"];
  const stacked = topology.etcd.topology === "stacked";
  const boxesByRole = new Map<NodeRole, string[]>();
  topology.zones.forEach((zone, zoneIndex) => {
    const inZone = topology.nodes.filter((node) => node.zoneIndex === zoneIndex);
    if (inZone.length === 0) return;
    lines.push(`  subgraph ${id("zone", zone.name)}["${zone.name}"]`);
    for (const role of ROLE_ORDER) {
      const nodes = inZone.filter((node) => node.role === role);
      if (nodes.length === 0) continue;
      const box = id(role, zone.name);
      boxesByRole.set(role, [...(boxesByRole.get(role) ?? []), box]);
      const etcdNote = role === "etcd" || (stacked && role === "control-plane") ? "<br/>etcd member" : "";
      const label = `${roleTitle(role, nodes.length)}<br/>${nodeList(nodes)}${etcdNote}`;
      lines.push(role === "etcd" ? `    ${box}[("${label}")]` : `    ${box}["${label}"]`);
    }
    lines.push("  end");
  });
  const group = topology.workerAutoScaling;
  if (group) {
    // Its instances come and go in every zone: one box outside the zones, no addresses.
    lines.push(`  worker_auto_scaling["${group.template.name}: Auto Scaling group<br/>${group.minSize}-${group.maxSize} workers over ${topology.zones.length} zones<br/>addresses dynamic"]`);
  }
  if (!topology.loadBalancerKind.runsOnNode) {
    // A load balancer AWS runs spans the zones; it is drawn once, outside them.
    lines.push(`  managed_load_balancer[["${topology.loadBalancerKind.displayName}<br/>${topology.controlPlaneEndpoint}"]]`);
    boxesByRole.set("load-balancer", ["managed_load_balancer"]);
  }
  for (const lb of boxesByRole.get("load-balancer") ?? []) {
    for (const controlPlane of boxesByRole.get("control-plane") ?? []) {
      lines.push(`  ${lb} -->|"${API_SERVER_PORT}/tcp"| ${controlPlane}`);
    }
  }
  return lines.join("\n");
}

/**
 * One box per security group and one arrow per (source, destination) pair, labelled with every
 * port the destination's ingress rules open to the source. Egress to CIDRs is listed per group.
 */
export function renderTrafficDiagram(rules: readonly SecurityRule[]): string {
  const groups = [...new Set(rules.flatMap((rule) => (rule.peerKind === "group" ? [rule.group, rule.peer] : [rule.group])))].sort();
  const lines = ["flowchart LR"];
  for (const group of groups) lines.push(`  ${id("sg", group)}["${group}"]`);

  const edges = new Map<string, string[]>();
  const add = (from: string, to: string, label: string) => {
    const key = `${from}\u0000${to}`;
    const labels = edges.get(key) ?? [];
    if (!labels.includes(label)) labels.push(label);
    edges.set(key, labels);
  };
  const cidrs = new Set<string>();
  for (const rule of rules) {
    const label = portLabel(rule);
    if (rule.direction === "ingress") {
      if (rule.peerKind === "group") add(id("sg", rule.peer), id("sg", rule.group), label);
      else {
        cidrs.add(rule.peer);
        add(id("cidr", rule.peer), id("sg", rule.group), label);
      }
    } else if (rule.peerKind === "cidr") {
      cidrs.add(rule.peer);
      add(id("sg", rule.group), id("cidr", rule.peer), label);
    }
    // Group-to-group egress is the mirror of an ingress rule and would only double the arrows.
  }
  for (const cidr of [...cidrs].sort()) lines.push(`  ${id("cidr", cidr)}(["${cidr}"])`);
  for (const [key, labels] of [...edges].sort(([a], [b]) => a.localeCompare(b))) {
    const [from, to] = key.split("\u0000");
    lines.push(`  ${from} -->|"${labels.sort(byPort).join(", ")}"| ${to}`);
  }
  return lines.join("\n");
}

/** "all traffic" first, then by protocol and first port number. */
function byPort(a: string, b: string): number {
  const key = (label: string) => {
    const match = /^(\d+)(?:-\d+)?\/(\w+)$/.exec(label);
    return match ? [match[2], Number(match[1])] as const : ["", -1] as const;
  };
  const [protocolA, portA] = key(a);
  const [protocolB, portB] = key(b);
  return protocolA === protocolB ? portA - portB : protocolA.localeCompare(protocolB);
}

function roleTitle(role: NodeRole, count: number): string {
  return count === 1 ? role : `${role} x${count}`;
}

function nodeList(nodes: readonly ClusterNode[]): string {
  const shown = nodes.slice(0, NAMES_PER_BOX).map((node) => `${node.name} ${node.privateIp}`);
  const hidden = nodes.length - shown.length;
  return [...shown, ...(hidden > 0 ? [`+${hidden} more`] : [])].join("<br/>");
}

/** A Mermaid node id: letters, digits and underscores only. */
function id(kind: string, name: string): string {
  return `${kind}_${name}`.replace(/[^A-Za-z0-9]/g, "_");
}
