// A conventional cdktf project, as `cdktf init --template=typescript` lays it out and most teams
// write it: root (barrel) provider imports, run by ts-node. The benchmark's baseline only.
import { Construct } from "constructs";
import { App, TerraformOutput, TerraformStack } from "cdktf";
import { instance, provider, securityGroup, subnet, vpc } from "@cdktf/provider-aws";

class ConventionalStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    new provider.AwsProvider(this, "aws", { region: "eu-west-1" });
    const network = new vpc.Vpc(this, "vpc", { cidrBlock: "10.0.0.0/16" });
    const nodes = new subnet.Subnet(this, "nodes", { vpcId: network.id, cidrBlock: "10.0.0.0/19", availabilityZone: "eu-west-1a" });
    const group = new securityGroup.SecurityGroup(this, "nodes-sg", { vpcId: network.id, name: `${id}-nodes` });
    for (const name of ["lb-1", "control-plane-1", "control-plane-2", "worker-1", "worker-2"]) {
      const node = new instance.Instance(this, name, {
        ami: "ami-0123456789abcdef0",
        instanceType: "t3.medium",
        subnetId: nodes.id,
        vpcSecurityGroupIds: [group.id],
        tags: { Name: name },
      });
      new TerraformOutput(this, `${name}-ip`, { value: node.privateIp });
    }
  }
}

const app = new App();
new ConventionalStack(app, "five-server");
new ConventionalStack(app, "external-etcd");
app.synth();
