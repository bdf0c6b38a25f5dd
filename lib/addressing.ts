/**
 * Deterministic address plan, so every private IP is known at synth time and the rendered
 * configs are complete and reviewable.
 *
 * The VPC is split into 8 equal blocks: block z is zone z's private subnet, block 4+z its public
 * subnet (up to 4 zones). Inside a private subnet each role owns a fixed range of host numbers, so
 * adding workers never moves a control-plane, etcd or load-balancer address (and never replaces
 * those instances). Nodes of a role go round-robin over the zones.
 */
import { format, hostAddress, Ipv4Cidr, subnet } from "./cidr";
import { NodeRole, ROLE_PROFILES } from "./roles";

/** Extra prefix bits between the VPC and each per-zone subnet. */
export const AZ_SUBNET_SPLIT = 3;
const PUBLIC_BLOCK_OFFSET = 4;

/** First host number of each role in a zone's private subnet (lib/roles.ts). */
export const HOST_BLOCKS: Readonly<Record<NodeRole, number>> = {
  "load-balancer": ROLE_PROFILES["load-balancer"].hostBlock,
  "control-plane": ROLE_PROFILES["control-plane"].hostBlock,
  etcd: ROLE_PROFILES.etcd.hostBlock,
  worker: ROLE_PROFILES.worker.hostBlock,
};

export interface ZonePlan {
  readonly name: string;
  readonly privateSubnet: string;
  readonly publicSubnet: string;
}

export function planZones(vpc: Ipv4Cidr, zones: readonly string[]): ZonePlan[] {
  const prefix = vpc.prefix + AZ_SUBNET_SPLIT;
  return zones.map((name, index) => ({
    name,
    privateSubnet: format(subnet(vpc, prefix, index)),
    publicSubnet: format(subnet(vpc, prefix, PUBLIC_BLOCK_OFFSET + index)),
  }));
}

/** Zone and private IP of the index-th (0-based) node of a role. */
export function placeNode(
  vpc: Ipv4Cidr,
  zoneCount: number,
  role: NodeRole,
  index: number,
): { zoneIndex: number; privateIp: string } {
  const zoneIndex = index % zoneCount;
  const privateSubnet = subnet(vpc, vpc.prefix + AZ_SUBNET_SPLIT, zoneIndex);
  const host = HOST_BLOCKS[role] + Math.floor(index / zoneCount);
  return { zoneIndex, privateIp: hostAddress(privateSubnet, host) };
}
