/**
 * The security-group rules of a synthesized stack, read back from its Terraform JSON, so that the
 * review diagram and the review diff show the rules Terraform will create, not a second list.
 * Groups are named by their construct id (the last segment of the construct path), which the
 * constructs treat as a contract: `control-plane`, `worker`, `load-balancer`, `etcd`, ...
 */

export interface SecurityRule {
  readonly direction: "ingress" | "egress";
  /** The group the rule belongs to. */
  readonly group: string;
  /** The other side: a group name, or a CIDR, or "all" for a rule without one. */
  readonly peer: string;
  readonly peerKind: "group" | "cidr";
  /** "tcp", "udp", "icmp" or "all" (ip_protocol -1). */
  readonly protocol: string;
  /** "6443", "2379-2380", or "all". */
  readonly ports: string;
  readonly description: string;
}

interface TerraformResource {
  readonly "//"?: { readonly metadata?: { readonly path?: string } };
  readonly [key: string]: unknown;
}

export interface StackJson {
  readonly resource?: Record<string, Record<string, TerraformResource>>;
  /** Data sources: the IAM and key policy documents among them. */
  readonly data?: Record<string, Record<string, TerraformResource>>;
}

const GROUP_REFERENCE = /^\$\{aws_security_group\.([^.]+)\.id\}$/;

/** Every ingress and egress rule of the stack, sorted so the result is stable. */
export function securityRulesOf(stack: StackJson): SecurityRule[] {
  const resources = stack.resource ?? {};
  const groupNames = new Map<string, string>();
  for (const [id, group] of Object.entries(resources.aws_security_group ?? {})) {
    groupNames.set(id, constructId(group) ?? id);
  }
  const groupOf = (reference: unknown): string | undefined => {
    const match = typeof reference === "string" ? GROUP_REFERENCE.exec(reference) : null;
    return match ? (groupNames.get(match[1]) ?? match[1]) : undefined;
  };

  const rules: SecurityRule[] = [];
  const collect = (type: string, direction: SecurityRule["direction"]) => {
    for (const rule of Object.values(resources[type] ?? {})) {
      const group = groupOf(rule.security_group_id);
      if (group === undefined) continue;
      const referenced = groupOf(rule.referenced_security_group_id);
      const cidr = [rule.cidr_ipv4, rule.cidr_ipv6, rule.prefix_list_id].find((value) => typeof value === "string") as string | undefined;
      rules.push({
        direction,
        group,
        peer: referenced ?? cidr ?? "all",
        peerKind: referenced !== undefined ? "group" : "cidr",
        protocol: protocolOf(rule.ip_protocol),
        ports: portsOf(rule.from_port, rule.to_port),
        description: typeof rule.description === "string" ? rule.description : "",
      });
    }
  };
  collect("aws_vpc_security_group_ingress_rule", "ingress");
  collect("aws_vpc_security_group_egress_rule", "egress");
  return rules.sort((a, b) => ruleKey(a).localeCompare(ruleKey(b)));
}

/** One line per rule, for diffs and listings: `ingress control-plane <- worker 6443/tcp`. */
export function describeRule(rule: SecurityRule): string {
  const arrow = rule.direction === "ingress" ? "<-" : "->";
  return `${rule.direction} ${rule.group} ${arrow} ${rule.peer} ${portLabel(rule)}`;
}

/** `6443/tcp`, `2379-2380/tcp`, `all traffic`. */
export function portLabel(rule: Pick<SecurityRule, "protocol" | "ports">): string {
  if (rule.protocol === "all") return "all traffic";
  return rule.ports === "all" ? `all ${rule.protocol}` : `${rule.ports}/${rule.protocol}`;
}

function ruleKey(rule: SecurityRule): string {
  const firstPort = rule.ports === "all" ? "" : rule.ports.split("-")[0].padStart(5, "0");
  return [rule.direction, rule.group, rule.peer, rule.protocol, firstPort, rule.ports].join(" ");
}

function constructId(resource: TerraformResource): string | undefined {
  const path = resource["//"]?.metadata?.path;
  return path ? path.split("/").pop() : undefined;
}

function protocolOf(value: unknown): string {
  if (value === undefined || value === "-1" || value === -1) return "all";
  return String(value);
}

function portsOf(from: unknown, to: unknown): string {
  if (typeof from !== "number") return "all";
  const upper = typeof to === "number" ? to : from;
  return upper === from ? String(from) : `${from}-${upper}`;
}
