/**
 * The cluster's VPC: per-zone private subnets for every node, per-zone public subnets that hold
 * only the NAT gateway(s), and the route tables for egress. Nodes never get public addresses;
 * admin access is SSM Session Manager, which reaches the nodes through the NAT, or through the
 * interface endpoints with `network.vpcEndpoints`. The VPC's default security group is managed
 * and left without any rule, so nothing placed in it by accident can talk.
 */
import { Construct } from "constructs";
import type { ITerraformDependable } from "cdktf";
import { Eip } from "@cdktf/provider-aws/lib/eip";
import { InternetGateway } from "@cdktf/provider-aws/lib/internet-gateway";
import { NatGateway } from "@cdktf/provider-aws/lib/nat-gateway";
import { Route } from "@cdktf/provider-aws/lib/route";
import { RouteTable } from "@cdktf/provider-aws/lib/route-table";
import { RouteTableAssociation } from "@cdktf/provider-aws/lib/route-table-association";
import { Subnet } from "@cdktf/provider-aws/lib/subnet";
import { Vpc } from "@cdktf/provider-aws/lib/vpc";
import { DefaultSecurityGroup } from "@cdktf/provider-aws/lib/default-security-group";
import { Ec2SubnetCidrReservation } from "@cdktf/provider-aws/lib/ec2-subnet-cidr-reservation";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { VpcEndpoint } from "@cdktf/provider-aws/lib/vpc-endpoint";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule";
import type { Topology } from "../topology";
import { dynamicHostStart, reservedHostBlocks } from "../addressing";
import { ANYWHERE_IPV4 as ANYWHERE, mustParseCidr } from "../cidr";
import { endpointServiceName, INTERFACE_ENDPOINT_SERVICES, InterfaceEndpointService } from "../vpc-endpoints";

export interface ClusterNetworkProps {
  /** Zones, subnet CIDRs and the VPC CIDR (`topology.spec.network.vpcCidr`). */
  readonly topology: Topology;
  /**
   * NAT gateways: "single" (one, in the first zone) or "perZone" (one per zone, so egress
   * survives a zone outage).
   * @default topology.spec.network.natGateways
   */
  readonly natGateways?: "single" | "perZone";
  /**
   * Interface endpoints for ssm, ssmmessages, ec2messages, kms and sts in every private subnet, and
   * an S3 gateway endpoint on the private route tables.
   * @default topology.spec.network.vpcEndpoints
   */
  readonly vpcEndpoints?: boolean;
}

export class ClusterNetwork extends Construct {
  public readonly vpc: Vpc;
  public readonly internetGateway: InternetGateway;
  /** Private (node) subnets, by zone index (same order as topology.zones). */
  public readonly privateSubnets: readonly Subnet[];
  /**
   * Per private subnet (zone order), the low hosts where static nodes are planned, reserved for
   * explicit assignment: whatever creates a network interface there (an interface endpoint, the
   * NLB, an Auto Scaling group instance) must depend on them.
   */
  public readonly staticHostReservations: readonly (readonly Ec2SubnetCidrReservation[])[];
  /** Public subnets (NAT gateways only), by zone index. */
  public readonly publicSubnets: readonly Subnet[];
  /** One NAT gateway ("single", in zone 0) or one per zone ("perZone"), by zone index. */
  public readonly natGateways: readonly NatGateway[];
  public readonly natEips: readonly Eip[];
  public readonly publicRouteTable: RouteTable;
  /** One private route table per zone, by zone index. */
  public readonly privateRouteTables: readonly RouteTable[];
  /** The private subnets' default routes (via NAT), by zone index. */
  public readonly egressRoutes: readonly Route[];
  public readonly privateRouteTableAssociations: readonly RouteTableAssociation[];
  /**
   * Everything a private subnet needs for internet egress. Nodes install packages and pull images
   * at first boot, and a NAT gateway takes minutes to become available, so instances depend on these.
   */
  public readonly egressDependencies: readonly ITerraformDependable[];
  /** The VPC's default security group, adopted with every rule removed. */
  public readonly defaultSecurityGroup: DefaultSecurityGroup;
  /** With vpcEndpoints: the interface endpoints by service, their security group and the S3 gateway endpoint. */
  public readonly interfaceEndpoints: Readonly<Partial<Record<InterfaceEndpointService, VpcEndpoint>>> = {};
  public readonly endpointSecurityGroup?: SecurityGroup;
  public readonly s3GatewayEndpoint?: VpcEndpoint;

  constructor(scope: Construct, id: string, props: ClusterNetworkProps) {
    super(scope, id);
    const { topology } = props;
    const stack = topology.stack;
    const natMode = props.natGateways ?? topology.spec.network.natGateways;
    if (topology.zones.length === 0) {
      throw new Error(`${this.node.path}: topology has no zones; at least one is required`);
    }
    if (natMode !== "single" && natMode !== "perZone") {
      throw new Error(`${this.node.path}: natGateways: ${JSON.stringify(natMode)}: expected "single" or "perZone"`);
    }
    const names = topology.zones.map((zone) => zone.name);
    if (new Set(names).size !== names.length) {
      throw new Error(`${this.node.path}: zones must be distinct: ${names.join(", ")}`);
    }

    this.vpc = new Vpc(this, "vpc", {
      cidrBlock: topology.spec.network.vpcCidr,
      // Both are needed for the Amazon-provided DNS names (ip-10-0-0-20.<region>.compute.internal)
      // and for the interface endpoints' private DNS (network.vpcEndpoints).
      enableDnsSupport: true,
      enableDnsHostnames: true,
      tags: { Name: stack },
    });

    this.internetGateway = new InternetGateway(this, "internet-gateway", {
      vpcId: this.vpc.id,
      tags: { Name: stack },
    });

    // Construct IDs use the zone name, not the index: they are the Terraform addresses users see in
    // plans. (A zone's CIDRs follow its index, so reordering zones replaces subnets either way.)
    this.publicSubnets = topology.zones.map(
      (zone) =>
        new Subnet(this, `public-subnet-${zone.name}`, {
          vpcId: this.vpc.id,
          availabilityZone: zone.name,
          cidrBlock: zone.publicSubnet,
          // Only NAT gateways live here; they get their Elastic IP explicitly.
          mapPublicIpOnLaunch: false,
          tags: { Name: `${stack}-public-${zone.name}`, Tier: "public" },
        }),
    );
    this.privateSubnets = topology.zones.map(
      (zone) =>
        new Subnet(this, `private-subnet-${zone.name}`, {
          vpcId: this.vpc.id,
          availabilityZone: zone.name,
          cidrBlock: zone.privateSubnet,
          mapPublicIpOnLaunch: false,
          tags: { Name: `${stack}-private-${zone.name}`, Tier: "private" },
        }),
    );
    // EC2 picks any free address for a network interface it creates, which could be one a static
    // node is planned at (its launch would then fail, now or after a later scale-up). Reserving the
    // static range for explicit assignment first closes that (lib/addressing.ts).
    const hostEnd = dynamicHostStart(topology.zones.length, topology.workers.length);
    this.staticHostReservations = topology.zones.map((zone, zoneIndex) =>
      reservedHostBlocks(mustParseCidr(zone.privateSubnet), hostEnd).map(
        (cidr, index) =>
          new Ec2SubnetCidrReservation(this, `static-hosts-${zone.name}-${index + 1}`, {
            subnetId: this.privateSubnets[zoneIndex].id,
            cidrBlock: cidr,
            reservationType: "explicit",
            description: `${stack}: static node addresses (hosts below ${hostEnd}); EC2 assigns them to no network interface by itself`,
          }),
      ),
    );

    this.publicRouteTable = new RouteTable(this, "public-route-table", {
      vpcId: this.vpc.id,
      tags: { Name: `${stack}-public` },
    });
    // Separate aws_route resources, never inline routes: mixing both styles makes Terraform fight itself.
    new Route(this, "public-default-route", {
      routeTableId: this.publicRouteTable.id,
      destinationCidrBlock: ANYWHERE,
      gatewayId: this.internetGateway.id,
    });
    topology.zones.forEach((zone, index) => {
      new RouteTableAssociation(this, `public-route-table-association-${zone.name}`, {
        subnetId: this.publicSubnets[index].id,
        routeTableId: this.publicRouteTable.id,
      });
    });

    const natZones = natMode === "perZone" ? topology.zones : topology.zones.slice(0, 1);
    this.natEips = natZones.map(
      (zone) =>
        new Eip(this, `nat-eip-${zone.name}`, {
          domain: "vpc",
          tags: { Name: `${stack}-nat-${zone.name}` },
          // The address is only routable once the VPC has an internet gateway.
          dependsOn: [this.internetGateway],
        }),
    );
    this.natGateways = natZones.map(
      (zone, index) =>
        new NatGateway(this, `nat-gateway-${zone.name}`, {
          allocationId: this.natEips[index].allocationId,
          subnetId: this.publicSubnets[index].id,
          connectivityType: "public",
          tags: { Name: `${stack}-${zone.name}` },
          // AWS: a public NAT gateway needs the internet gateway attached first.
          dependsOn: [this.internetGateway],
        }),
    );

    // One private route table per zone even with a single NAT gateway: switching natGateways
    // between "single" and "perZone" then only changes route targets, never subnet associations.
    this.privateRouteTables = topology.zones.map(
      (zone) =>
        new RouteTable(this, `private-route-table-${zone.name}`, {
          vpcId: this.vpc.id,
          tags: { Name: `${stack}-private-${zone.name}` },
        }),
    );
    this.egressRoutes = topology.zones.map((zone, index) => {
      const nat = this.natGateways[natMode === "perZone" ? index : 0];
      return new Route(this, `private-default-route-${zone.name}`, {
        routeTableId: this.privateRouteTables[index].id,
        destinationCidrBlock: ANYWHERE,
        natGatewayId: nat.id,
      });
    });
    this.privateRouteTableAssociations = topology.zones.map(
      (zone, index) =>
        new RouteTableAssociation(this, `private-route-table-association-${zone.name}`, {
          subnetId: this.privateSubnets[index].id,
          routeTableId: this.privateRouteTables[index].id,
        }),
    );

    // Adopting the group removes every rule AWS put in it, and none is declared. (Empty ingress and
    // egress lists would also show a rule added later as drift, but cdktf's HCL output drops empty
    // lists, and the HCL stack must plan like the JSON.)
    this.defaultSecurityGroup = new DefaultSecurityGroup(this, "default-security-group", {
      vpcId: this.vpc.id,
      tags: { Name: `${stack}-default-unused` },
    });

    const endpointDependencies: ITerraformDependable[] = [];
    if (props.vpcEndpoints ?? topology.spec.network.vpcEndpoints) {
      const region = topology.spec.region;
      const group = new SecurityGroup(this, "vpc-endpoints", {
        namePrefix: `${stack}-vpc-endpoints-`,
        description: `kubeadm-ha ${stack}: interface VPC endpoints of the AWS APIs`,
        vpcId: this.vpc.id,
        tags: { Name: `${stack}-vpc-endpoints` },
        lifecycle: { createBeforeDestroy: true },
      });
      // From the VPC CIDR: every node's HTTPS to an AWS API; the endpoints open no connection.
      const https = new VpcSecurityGroupIngressRule(this, "vpc-endpoints-https-from-vpc", {
        securityGroupId: group.id,
        cidrIpv4: topology.spec.network.vpcCidr,
        ipProtocol: "tcp",
        fromPort: 443,
        toPort: 443,
        description: "HTTPS to the AWS API endpoints from the cluster's VPC",
        tags: { Name: `${stack}-vpc-endpoints-https-from-vpc` },
      });
      this.endpointSecurityGroup = group;
      const endpoints: Partial<Record<InterfaceEndpointService, VpcEndpoint>> = {};
      for (const service of INTERFACE_ENDPOINT_SERVICES) {
        endpoints[service] = new VpcEndpoint(this, `endpoint-${service}`, {
          vpcId: this.vpc.id,
          serviceName: endpointServiceName(region, service),
          vpcEndpointType: "Interface",
          // One network interface per zone, so a zone's loss leaves the others their endpoint.
          subnetIds: this.privateSubnets.map((subnet) => subnet.id),
          // Its interfaces take no address a static node is planned at.
          dependsOn: this.staticHostReservations.flat(),
          securityGroupIds: [group.id],
          // The regional API names (ssm.<region>.amazonaws.com, ...) resolve to the endpoints inside
          // the VPC: the AWS CLI and the SSM agent need no configuration.
          privateDnsEnabled: true,
          tags: { Name: `${stack}-${service}` },
        });
      }
      this.interfaceEndpoints = endpoints;
      this.s3GatewayEndpoint = new VpcEndpoint(this, "endpoint-s3", {
        vpcId: this.vpc.id,
        serviceName: endpointServiceName(region, "s3"),
        vpcEndpointType: "Gateway",
        routeTableIds: this.privateRouteTables.map((table) => table.id),
        tags: { Name: `${stack}-s3` },
      });
      endpointDependencies.push(https, ...Object.values(endpoints), this.s3GatewayEndpoint);
    }
    this.egressDependencies = [...this.egressRoutes, ...this.privateRouteTableAssociations, ...endpointDependencies];
  }
}
