/**
 * `loadBalancer.kind: nlb`: the API endpoint as an internal AWS Network Load Balancer on 6443 with
 * a node in every zone's private subnet, cross-zone routing, one target group of every
 * control-plane instance, and a Route 53 private hosted zone whose `api.<stack>.internal` record
 * aliases it. That name is controlPlaneEndpoint: known at synth, so every rendered kubeconfig and
 * the API server certificate's SANs are complete in review. With `publicAccessCidrs`, a second,
 * internet-facing NLB in the public subnets admits kubectl from those CIDRs only.
 *
 * Settings and the reasoning behind them (health checks, hairpin, deregistration) live in
 * lib/load-balancers/nlb.ts, which the review page and the docs read too.
 */
import { Construct } from "constructs";
import type { ITerraformDependable } from "cdktf";
import { Lb } from "@cdktf/provider-aws/lib/lb";
import { LbListener } from "@cdktf/provider-aws/lib/lb-listener";
import { LbTargetGroup } from "@cdktf/provider-aws/lib/lb-target-group";
import { LbTargetGroupAttachment } from "@cdktf/provider-aws/lib/lb-target-group-attachment";
import { Route53Record } from "@cdktf/provider-aws/lib/route53-record";
import { Route53Zone } from "@cdktf/provider-aws/lib/route53-zone";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { VpcSecurityGroupEgressRule } from "@cdktf/provider-aws/lib/vpc-security-group-egress-rule";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule";
import type { Topology } from "../topology";
import { API_SERVER_PORT } from "../ports";
import {
  NLB_HEALTH_CHECK_PATH,
  NLB_TUNING,
  nlbEndpointName,
  nlbPrivateZoneName,
  nlbResourceName,
} from "../load-balancers/nlb";

export interface ApiNetworkLoadBalancerProps {
  /** Stack, zones, the endpoint name and `spec.loadBalancer.publicAccessCidrs`. */
  readonly topology: Topology;
  readonly vpcId: string;
  /** One private subnet per zone (topology.zones order): the internal NLB's nodes. */
  readonly privateSubnetIds: readonly string[];
  /** One public subnet per zone: the internet-facing NLB's nodes (used only with publicAccessCidrs). */
  readonly publicSubnetIds: readonly string[];
  /**
   * The load-balancer security group: the internal NLB's own, which the node groups admit on 6443
   * and which admits the Kubernetes nodes (ClusterSecurityGroups).
   */
  readonly securityGroupId: string;
  /** The control-plane group, which must admit the internet-facing NLB (publicAccessCidrs only). */
  readonly controlPlaneSecurityGroupId: string;
  /**
   * What the internal NLB's network interfaces must wait for: the private subnets' reservations of
   * the static nodes' addresses (ClusterNetwork.staticHostReservations).
   * @default - none
   */
  readonly privateSubnetDependencies?: readonly ITerraformDependable[];
}

/** What a managed API load balancer gives the cluster: the resources nodes need before they boot, and target registration. */
export interface ManagedApiLoadBalancer {
  /** The endpoint must resolve and listen before a node's first boot joins through it. */
  readonly bootDependencies: readonly ITerraformDependable[];
  /** Registers every control-plane instance (by node name) as a target. */
  registerControlPlane(instanceIds: Readonly<Record<string, string>>): void;
  /** Stack outputs: name -> [value, description]. */
  readonly outputs: Readonly<Record<string, readonly [string, string]>>;
}

/** One scheme's load balancer, target group and listener. */
export interface NlbEndpoint {
  readonly loadBalancer: Lb;
  readonly targetGroup: LbTargetGroup;
  readonly listener: LbListener;
}

export class ApiNetworkLoadBalancer extends Construct implements ManagedApiLoadBalancer {
  public readonly zone: Route53Zone;
  /** `api.<stack>.internal`, aliased to the internal NLB. */
  public readonly record: Route53Record;
  public readonly internal: NlbEndpoint;
  /** Only with publicAccessCidrs. */
  public readonly public?: NlbEndpoint & { readonly securityGroup: SecurityGroup };
  public readonly attachments: LbTargetGroupAttachment[] = [];
  public readonly bootDependencies: readonly ITerraformDependable[];
  public readonly outputs: Readonly<Record<string, readonly [string, string]>>;
  private readonly topology: Topology;

  constructor(scope: Construct, id: string, props: ApiNetworkLoadBalancerProps) {
    super(scope, id);
    const { topology } = props;
    this.topology = topology;
    const stack = topology.stack;
    if (topology.loadBalancerKind.kind !== "nlb") {
      throw new Error(`${this.node.path}: topology's load balancer kind is ${topology.loadBalancerKind.kind}, not nlb`);
    }
    for (const [name, ids] of [["privateSubnetIds", props.privateSubnetIds], ["publicSubnetIds", props.publicSubnetIds]] as const) {
      if (ids.length !== topology.zones.length) {
        throw new Error(`${this.node.path}: ${name}: ${ids.length} given, expected one per zone (${topology.zones.length})`);
      }
    }
    const cidrs = topology.spec.loadBalancer.publicAccessCidrs ?? [];

    this.zone = new Route53Zone(this, "private-zone", {
      name: nlbPrivateZoneName(stack),
      comment: `kubeadm-ha ${stack}: the Kubernetes API endpoint name`,
      vpc: [{ vpcId: props.vpcId }],
      tags: { Name: nlbPrivateZoneName(stack) },
    });
    this.internal = this.endpoint("internal", props.privateSubnetIds, props.securityGroupId, props.vpcId, props.privateSubnetDependencies);
    this.record = new Route53Record(this, "api-record", {
      zoneId: this.zone.zoneId,
      name: nlbEndpointName(stack),
      type: "A",
      // An alias answers with the NLB's per-zone addresses; with target health evaluated, Route 53
      // leaves out a zone whose NLB node has no healthy target.
      alias: { name: this.internal.loadBalancer.dnsName, zoneId: this.internal.loadBalancer.zoneId, evaluateTargetHealth: true },
    });

    const outputs: Record<string, readonly [string, string]> = {
      api_load_balancer_dns_name: [this.internal.loadBalancer.dnsName, `The internal NLB behind ${nlbEndpointName(stack)}`],
    };
    if (cidrs.length > 0) {
      const group = new SecurityGroup(this, "public-security-group", {
        name: `${stack}-api-public`,
        description: `kubeadm-ha ${stack}: internet-facing Kubernetes API load balancer`,
        vpcId: props.vpcId,
        tags: { Name: `${stack}-api-public` },
      });
      cidrs.forEach((cidr, index) => {
        new VpcSecurityGroupIngressRule(this, `public-api-from-cidr-${index}`, {
          securityGroupId: group.id,
          cidrIpv4: cidr,
          ipProtocol: "tcp",
          fromPort: API_SERVER_PORT,
          toPort: API_SERVER_PORT,
          description: `Kubernetes API for kubectl from ${cidr} (loadBalancer.publicAccessCidrs)`,
          tags: { Name: `${stack}-public-api-from-cidr-${index}` },
        });
      });
      // Only what the NLB needs: forwarding and health checks to the API servers.
      new VpcSecurityGroupEgressRule(this, "public-api-to-control-plane", {
        securityGroupId: group.id,
        referencedSecurityGroupId: props.controlPlaneSecurityGroupId,
        ipProtocol: "tcp",
        fromPort: API_SERVER_PORT,
        toPort: API_SERVER_PORT,
        description: "Kubernetes API forwarding and health checks to the control-plane nodes",
        tags: { Name: `${stack}-public-api-to-control-plane` },
      });
      new VpcSecurityGroupIngressRule(this, "control-plane-api-from-public-load-balancer", {
        securityGroupId: props.controlPlaneSecurityGroupId,
        referencedSecurityGroupId: group.id,
        ipProtocol: "tcp",
        fromPort: API_SERVER_PORT,
        toPort: API_SERVER_PORT,
        description: "Kubernetes API from the internet-facing load balancer (forwarding, health checks)",
        tags: { Name: `${stack}-control-plane-api-from-public-load-balancer` },
      });
      this.public = { ...this.endpoint("public", props.publicSubnetIds, group.id, props.vpcId), securityGroup: group };
      outputs.api_public_endpoint = [
        `${this.public.loadBalancer.dnsName}:${API_SERVER_PORT}`,
        `Internet-facing API endpoint for kubectl from loadBalancer.publicAccessCidrs; set the kubeconfig's tls-server-name to ${nlbEndpointName(stack)}, the name the API server certificate carries`,
      ];
    }
    this.outputs = outputs;
    this.bootDependencies = [this.record, this.internal.listener];
  }

  public registerControlPlane(instanceIds: Readonly<Record<string, string>>): void {
    for (const node of this.topology.controlPlane) {
      const instanceId = instanceIds[node.name];
      if (!instanceId) throw new Error(`${this.node.path}: no instance for control-plane node ${node.name}`);
      for (const [scheme, endpoint] of [["internal", this.internal], ["public", this.public]] as const) {
        if (!endpoint) continue;
        // The node name in the ID: adding a control-plane node adds an attachment, never renames one.
        this.attachments.push(
          new LbTargetGroupAttachment(this, `${scheme}-target-${node.name}`, {
            targetGroupArn: endpoint.targetGroup.arn,
            targetId: instanceId,
            port: API_SERVER_PORT,
          }),
        );
      }
    }
  }

  private endpoint(
    scheme: "internal" | "public",
    subnetIds: readonly string[],
    securityGroupId: string,
    vpcId: string,
    subnetDependencies: readonly ITerraformDependable[] = [],
  ): NlbEndpoint {
    const stack = this.topology.stack;
    const name = nlbResourceName(stack, scheme);
    const loadBalancer = new Lb(this, `${scheme}-nlb`, {
      name,
      loadBalancerType: "network",
      internal: scheme === "internal",
      subnets: [...subnetIds],
      securityGroups: [securityGroupId],
      // Every NLB node forwards to the healthy API servers of all zones, so a zone with no healthy
      // master (or none at all) still serves the clients that reach its NLB node.
      enableCrossZoneLoadBalancing: true,
      ipAddressType: "ipv4",
      tags: { Name: name },
      dependsOn: subnetDependencies.length > 0 ? [...subnetDependencies] : undefined,
    });
    const targetGroup = new LbTargetGroup(this, `${scheme}-api-servers`, {
      name,
      vpcId,
      targetType: "instance",
      protocol: "TCP",
      port: API_SERVER_PORT,
      // Off, or a control-plane node reaching the API through the NLB and routed to itself would
      // time out (kubeadm#1685); see lib/load-balancers/nlb.ts.
      preserveClientIp: "false",
      deregistrationDelay: String(NLB_TUNING.deregistrationDelaySeconds),
      // Close a deregistered master's connections when the delay ends, so clients reconnect.
      connectionTermination: true,
      healthCheck: {
        enabled: true,
        protocol: "HTTPS",
        port: "traffic-port",
        path: NLB_HEALTH_CHECK_PATH,
        matcher: "200",
        interval: NLB_TUNING.healthCheckIntervalSeconds,
        timeout: NLB_TUNING.healthCheckTimeoutSeconds,
        healthyThreshold: NLB_TUNING.healthyThreshold,
        unhealthyThreshold: NLB_TUNING.unhealthyThreshold,
      },
      tags: { Name: name },
    });
    const listener = new LbListener(this, `${scheme}-api-listener`, {
      loadBalancerArn: loadBalancer.arn,
      port: API_SERVER_PORT,
      // TLS passes through: clients verify the API server certificate themselves.
      protocol: "TCP",
      defaultAction: [{ type: "forward", targetGroupArn: targetGroup.arn }],
      tags: { Name: name },
    });
    return { loadBalancer, targetGroup, listener };
  }
}
