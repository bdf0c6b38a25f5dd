/** IPv4 CIDR arithmetic for subnet planning. Pure; no dependencies. */

export interface Ipv4Cidr {
  /** Network address as an unsigned 32-bit integer. */
  readonly network: number;
  readonly prefix: number;
}

/** Every IPv4 address: the default route, and "anywhere" in a security group rule. */
export const ANYWHERE_IPV4 = "0.0.0.0/0";

const CIDR_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** Parses "a.b.c.d/n"; returns an error message instead of throwing so validators can report it. */
export function parseCidr(text: string): Ipv4Cidr | string {
  const match = CIDR_PATTERN.exec(text);
  if (!match) return "expected an IPv4 CIDR such as 10.0.0.0/16";
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((o) => o > 255)) return "each octet must be 0-255";
  if (prefix > 32) return "prefix length must be 0-32";
  const address = ipToInt(octets.join("."));
  const network = (address & prefixMask(prefix)) >>> 0;
  if (network !== address) {
    return `host bits are set; the network address is ${intToIp(network)}/${prefix}`;
  }
  return { network, prefix };
}

/** Like parseCidr, for values already validated. */
export function mustParseCidr(text: string): Ipv4Cidr {
  const parsed = parseCidr(text);
  if (typeof parsed === "string") throw new Error(`${text}: ${parsed}`);
  return parsed;
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function size(cidr: Ipv4Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

export function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const shorter = Math.min(a.prefix, b.prefix);
  const mask = prefixMask(shorter);
  return ((a.network & mask) >>> 0) === ((b.network & mask) >>> 0);
}

/** The index-th subnet of `newPrefix` inside `cidr` (like Terraform's cidrsubnet). */
export function subnet(cidr: Ipv4Cidr, newPrefix: number, index: number): Ipv4Cidr {
  if (newPrefix < cidr.prefix || newPrefix > 32) {
    throw new Error(`cannot split /${cidr.prefix} into /${newPrefix}`);
  }
  const count = 2 ** (newPrefix - cidr.prefix);
  if (index < 0 || index >= count) {
    throw new Error(`subnet index ${index} out of range for /${cidr.prefix} split into /${newPrefix}`);
  }
  return { network: cidr.network + index * 2 ** (32 - newPrefix), prefix: newPrefix };
}

/** The host-th address in the block (0 is the network address). */
export function hostAddress(cidr: Ipv4Cidr, host: number): string {
  if (host < 0 || host >= size(cidr)) {
    throw new Error(`host ${host} out of range for ${format(cidr)}`);
  }
  return intToIp(cidr.network + host);
}

export function format(cidr: Ipv4Cidr): string {
  return `${intToIp(cidr.network)}/${cidr.prefix}`;
}

export function ipToInt(ip: string): number {
  return ip.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

export function intToIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}
