/**
 * One security group per node role, with least-privilege ingress where every rule names the
 * security group it comes from (never a CIDR), so a rule keeps meaning "these nodes" however the
 * addresses change. There is no SSH rule anywhere: admin access is SSM Session Manager, which
 * needs no inbound port.
 *
 * Traffic analysis (who opens which connection):
 * - 6443 load balancer <- control-plane, worker: kubelets, kube-proxy, `kubeadm join` and admin
 *   kubeconfigs all use controlPlaneEndpoint, the load balancer.
 * - 6443 control plane <- load balancer: HAProxy/NGINX forwarding and health checks.
 * - 6443 control plane <- control-plane, worker: the in-cluster `kubernetes` Service
 *   (10.96.0.1) does not point at the load balancer; its endpoints are the API servers' own
 *   advertise addresses, so every in-cluster client (CoreDNS, the CNI's controllers, operators)
 *   reaches a control-plane node directly, SNATed to the source node's address. Without these two
 *   rules CoreDNS on workers cannot list Services and cluster DNS breaks.
 * - 10250 control plane, worker <- control-plane: API server -> kubelet (logs, exec, port-forward).
 *   (An in-cluster metrics-server would also need it from workers; it is not installed here.)
 * - stacked etcd, 2379-2380 control plane <- control-plane: peers, and `kubeadm join
 *   --control-plane` adding its member through another member's client port.
 * - external etcd, 2380 etcd <- etcd (peers); 2379 etcd <- control-plane (API servers) and
 *   <- etcd (etcdctl health/status across members; peers already have full raft access).
 * - CNI ports between all Kubernetes nodes (control plane and workers): both supported CNIs
 *   encapsulate pod traffic between nodes, so the overlay port is the only pod-to-pod path.
 * - Egress, Kubernetes nodes: all. Pods reach whatever their workloads need (registries, APIs,
 *   databases); a cluster that restricts that does it with network policies or an egress proxy.
 * - Egress, load-balancer and etcd nodes: only what their boot scripts and timers use. 443 and 80
 *   to anywhere: apt (the Ubuntu mirrors answer on 80; unattended-upgrades too), snap (the AWS CLI,
 *   the SSM agent's updates), the etcd release from GitHub, and the AWS APIs (SSM, ssmmessages,
 *   ec2messages, KMS, STS, S3) through the NAT gateway or the VPC endpoints. udp 123 for NTP servers
 *   other than the Amazon Time Sync Service. 6443 load balancer -> control plane (forwarding,
 *   health checks); 2379-2380 etcd -> etcd (peers, etcdctl across members). An NLB (no node) gets
 *   only the 6443 rule. The VPC resolver (VPC+2 and 169.254.169.253), the instance metadata service
 *   and the Amazon Time Sync Service (169.254.169.123) are not filtered by security groups.
 */
import { Construct } from "constructs";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { VpcSecurityGroupEgressRule } from "@cdktf/provider-aws/lib/vpc-security-group-egress-rule";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule";
import type { NodeRole, Topology } from "../topology";
import { API_SERVER_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT, KUBELET_PORT } from "../ports";
import type { CniPort } from "../cni-ports";
import { kubernetesRoles, provisionedRoles, ROLE_PROFILES } from "../roles";
import { ANYWHERE_IPV4 as ANYWHERE } from "../cidr";

export type { CniPort } from "../cni-ports";

export interface ClusterSecurityGroupsProps {
  /** Stack name and whether etcd is external (which adds the etcd group). */
  readonly topology: Topology;
  readonly vpcId: string;
  /**
   * Ports the CNI needs between all Kubernetes nodes, e.g. calico VXLAN 4789/udp and Typha
   * 5473/tcp, or flannel VXLAN 8472/udp.
   * @default topology.cniPorts
   */
  readonly cniPorts?: readonly CniPort[];
}

/** Kubernetes nodes: they run the kubelet and the CNI. */
const KUBERNETES_ROLES = kubernetesRoles();
/** EC2 security group rule descriptions: at most 255 characters from a restricted set. */
const DESCRIPTION = /^[a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]{1,255}$/;

export class ClusterSecurityGroups extends Construct {
  public readonly loadBalancer: SecurityGroup;
  public readonly controlPlane: SecurityGroup;
  public readonly worker: SecurityGroup;
  /** Only with external etcd. */
  public readonly etcd?: SecurityGroup;
  public readonly ingressRules: readonly VpcSecurityGroupIngressRule[];
  public readonly egressRules: readonly VpcSecurityGroupEgressRule[];

  constructor(scope: Construct, id: string, props: ClusterSecurityGroupsProps) {
    super(scope, id);
    const { topology } = props;
    const cniPorts = props.cniPorts ?? topology.cniPorts;
    validateCniPorts(this.node.path, cniPorts);
    const stack = topology.stack;
    const external = topology.etcd.topology === "external";

    const group = (role: NodeRole, description: string) =>
      new SecurityGroup(this, role, {
        // Name and description are immutable in EC2, so changing either (or the VPC) replaces the
        // group: a name prefix and create-before-destroy let the new group exist, and the
        // instances move to it, before the old one is deleted (a fixed name would collide, and
        // deleting a group still in use fails with DependencyViolation).
        namePrefix: `${stack}-${role}-`,
        description,
        vpcId: props.vpcId,
        tags: { Name: `${stack}-${role}` },
        lifecycle: { createBeforeDestroy: true },
      });
    const groups: Partial<Record<NodeRole, SecurityGroup>> = {};
    for (const role of provisionedRoles(topology, "securityGroup")) {
      groups[role] = group(role, `kubeadm-ha ${stack}: ${ROLE_PROFILES[role].description}`);
    }
    this.loadBalancer = groups["load-balancer"]!;
    this.controlPlane = groups["control-plane"]!;
    this.worker = groups.worker!;
    this.etcd = groups.etcd;

    const ingress: VpcSecurityGroupIngressRule[] = [];
    // The construct ID spells out the rule, so it stays stable as long as the rule means the same.
    const allow = (to: NodeRole, from: NodeRole, protocol: "tcp" | "udp", ports: [number, number], name: string, description: string) => {
      const ruleId = `${to}-${name}-from-${from}`;
      ingress.push(
        new VpcSecurityGroupIngressRule(this, ruleId, {
          securityGroupId: this.group(to).id,
          referencedSecurityGroupId: this.group(from).id,
          ipProtocol: protocol,
          fromPort: ports[0],
          toPort: ports[1],
          description,
          tags: { Name: `${stack}-${ruleId}` },
        }),
      );
    };
    const api: [number, number] = [API_SERVER_PORT, API_SERVER_PORT];

    for (const from of KUBERNETES_ROLES) {
      allow("load-balancer", from, "tcp", api, "api", `Kubernetes API via the load balancer from ${from} nodes`);
    }
    allow("control-plane", "load-balancer", "tcp", api, "api", "Kubernetes API from the load balancer (forwarding, health checks)");
    for (const from of KUBERNETES_ROLES) {
      allow("control-plane", from, "tcp", api, "api",
        `Kubernetes API from ${from} nodes via the kubernetes Service, whose endpoints are the API servers`);
    }
    for (const to of KUBERNETES_ROLES) {
      allow(to, "control-plane", "tcp", [KUBELET_PORT, KUBELET_PORT], "kubelet", "kubelet API from the API servers (logs, exec, port-forward)");
    }
    if (external) {
      allow("etcd", "etcd", "tcp", [ETCD_PEER_PORT, ETCD_PEER_PORT], "etcd-peer", "etcd peer traffic between members");
      allow("etcd", "etcd", "tcp", [ETCD_CLIENT_PORT, ETCD_CLIENT_PORT], "etcd-client", "etcd client API between members (etcdctl health)");
      allow("etcd", "control-plane", "tcp", [ETCD_CLIENT_PORT, ETCD_CLIENT_PORT], "etcd-client", "etcd client API from the API servers");
    } else {
      allow("control-plane", "control-plane", "tcp", [ETCD_CLIENT_PORT, ETCD_PEER_PORT], "etcd",
        "stacked etcd client and peer traffic between control-plane nodes");
    }
    for (const cni of cniPorts) {
      for (const to of KUBERNETES_ROLES) {
        for (const from of KUBERNETES_ROLES) {
          allow(to, from, cni.protocol, [cni.port, cni.port], `cni-${cni.protocol}-${cni.port}`, `CNI: ${cni.description}`);
        }
      }
    }
    this.ingressRules = ingress;

    const egress: VpcSecurityGroupEgressRule[] = [];
    const egressRule = (role: NodeRole, name: string, description: string, to: { cidr: string } | { group: NodeRole }, protocol: string, ports?: [number, number]) => {
      const ruleId = `${role}-egress-${name}`;
      egress.push(
        new VpcSecurityGroupEgressRule(this, ruleId, {
          securityGroupId: this.group(role).id,
          ...("cidr" in to ? { cidrIpv4: to.cidr } : { referencedSecurityGroupId: this.group(to.group).id }),
          ipProtocol: protocol,
          ...(ports ? { fromPort: ports[0], toPort: ports[1] } : {}),
          description,
          tags: { Name: `${stack}-${ruleId}` },
        }),
      );
    };
    const internetForBoot = (role: NodeRole) => {
      egressRule(role, "https", "HTTPS: AWS APIs (SSM, KMS, STS, S3), snap, GitHub releases, apt", { cidr: ANYWHERE }, "tcp", [443, 443]);
      egressRule(role, "http", "HTTP: the Ubuntu apt mirrors", { cidr: ANYWHERE }, "tcp", [80, 80]);
      egressRule(role, "ntp", "NTP: time servers other than the Amazon Time Sync Service", { cidr: ANYWHERE }, "udp", [123, 123]);
    };
    const allEgress = (role: NodeRole) =>
      // The construct ID of the rule every group had before egress was narrowed: kept, so no
      // Kubernetes node's rule is replaced.
      egressRule(role, "all", "All egress: packages, images and AWS APIs (SSM, KMS) through the NAT gateway", { cidr: ANYWHERE }, "-1");
    // Per role, so a new role does not compile until it states its egress.
    const EGRESS: Readonly<Record<NodeRole, (role: NodeRole) => void>> = {
      "control-plane": allEgress,
      worker: allEgress,
      "load-balancer": (role) => {
        if (topology.loadBalancerKind.runsOnNode) internetForBoot(role);
        egressRule(role, "api-to-control-plane", "Kubernetes API forwarding and health checks to the control-plane nodes", { group: "control-plane" }, "tcp", api);
      },
      etcd: (role) => {
        internetForBoot(role);
        egressRule(role, "etcd-to-etcd", "etcd peer and client traffic to the other members", { group: "etcd" }, "tcp", [ETCD_CLIENT_PORT, ETCD_PEER_PORT]);
      },
    };
    for (const role of provisionedRoles(topology, "securityGroup")) EGRESS[role](role);
    this.egressRules = egress;
  }

  /** The security group of a role; throws for etcd when etcd is stacked. */
  public group(role: NodeRole): SecurityGroup {
    const found = {
      "load-balancer": this.loadBalancer,
      "control-plane": this.controlPlane,
      worker: this.worker,
      etcd: this.etcd,
    }[role];
    if (!found) throw new Error(`${this.node.path}: no ${role} security group (etcd is stacked)`);
    return found;
  }
}

function validateCniPorts(path: string, ports: readonly CniPort[]): void {
  const seen = new Set<string>();
  for (const cni of ports) {
    const key = `${cni.protocol}/${cni.port}`;
    if (cni.protocol !== "tcp" && cni.protocol !== "udp") {
      throw new Error(`${path}: cniPorts: ${JSON.stringify(cni.protocol)}: expected "tcp" or "udp"`);
    }
    if (!Number.isInteger(cni.port) || cni.port < 1 || cni.port > 65535) {
      throw new Error(`${path}: cniPorts: ${cni.port}: expected a port from 1 to 65535`);
    }
    // The admin path is SSM Session Manager; an SSH port slipped in as a "CNI port" would defeat that.
    if (cni.port === 22) throw new Error(`${path}: cniPorts: 22: SSH is never opened; use SSM Session Manager`);
    if (seen.has(key)) throw new Error(`${path}: cniPorts: ${key} is listed twice`);
    seen.add(key);
    if (!DESCRIPTION.test(`CNI: ${cni.description}`) || cni.description.trim() === "") {
      throw new Error(
        `${path}: cniPorts: ${key}: description ${JSON.stringify(cni.description)}: expected 1-250 characters of letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*`,
      );
    }
  }
}
