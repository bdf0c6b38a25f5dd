/**
 * Deterministic address plan, so every private IP is known at synth time and the rendered
 * configs are complete and reviewable.
 *
 * The VPC is split into 8 equal blocks: block z is zone z's private subnet, block 4+z its public
 * subnet (up to 4 zones). Inside a private subnet each role owns a fixed range of host numbers, so
 * adding workers never moves a control-plane, etcd or load-balancer address (and never replaces
 * those instances). Nodes of a role go round-robin over the zones.
 */
import { format, hostAddress, Ipv4Cidr, size, subnet } from "./cidr";
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

/**
 * Network interfaces EC2 creates by itself (Auto Scaling group instances, interface VPC endpoints,
 * the NLB's nodes) take whatever address is free in their zone's private subnet, which could be
 * one a static node is planned at (that node's launch would then fail, now or after a later
 * scale-up). So each private subnet reserves its low hosts for explicit assignment only: EC2
 * never hands them out automatically. The range is hosts 4 (AWS keeps 0-3) to the first power of
 * two, at least 64, above every static host this spec plans; `reservedHostBlocks` lists it as
 * aligned CIDR blocks, smallest first.
 */
export const MIN_RESERVED_HOSTS = 64;
const AWS_RESERVED_LOW_HOSTS = 4;

/** The first host number of a private subnet that EC2 may assign by itself (to a group instance, an endpoint, the NLB). */
export function dynamicHostStart(zoneCount: number, workerCount: number): number {
  const highestStatic = workerCount > 0 ? HOST_BLOCKS.worker + Math.ceil(workerCount / zoneCount) - 1 : HOST_BLOCKS.worker - 1;
  let limit = MIN_RESERVED_HOSTS;
  while (limit <= highestStatic) limit *= 2;
  return limit;
}

/**
 * The reserved range [4, end) of a private subnet as aligned CIDR blocks (e.g. .4/30, .8/29,
 * .16/28, .32/27); never past the subnet's last usable host (AWS keeps the last address).
 */
export function reservedHostBlocks(privateSubnet: Ipv4Cidr, end: number): string[] {
  end = Math.min(end, size(privateSubnet) - 1);
  const blocks: string[] = [];
  for (let start = AWS_RESERVED_LOW_HOSTS; start < end; ) {
    let blockSize = 1;
    while (start % (blockSize * 2) === 0 && start + blockSize * 2 <= end) blockSize *= 2;
    blocks.push(`${hostAddress(privateSubnet, start)}/${32 - Math.log2(blockSize)}`);
    start += blockSize;
  }
  return blocks;
}
