import * as fs from "fs";
import * as path from "path";
import { SpecError, strictFromEnvironment, validateSpec } from "../lib/validate";
import { clusterSpecJsonSchema } from "../lib/spec";
import { REPO_ROOT } from "./support/specs";

/** The formatted error lines for a spec that must be rejected. */
function errorsOf(yamlText: string, name = "bad"): string[] {
  try {
    validateSpec(`clusters/${name}.yaml`, name, yamlText);
  } catch (error) {
    expect(error).toBeInstanceOf(SpecError);
    return (error as SpecError).message.split("\n");
  }
  throw new Error("spec was accepted");
}

function expectError(yamlText: string, expected: string): void {
  const lines = errorsOf(yamlText);
  expect(lines).toEqual(expect.arrayContaining([expect.stringContaining(expected)]));
  for (const line of lines) expect(line.startsWith("clusters/bad.yaml: ")).toBe(true);
}

describe("defaults", () => {
  test("an empty spec gets every documented default", () => {
    const { spec } = validateSpec("clusters/x.yaml", "defaults", "");
    expect(spec).toMatchObject({
      name: "defaults",
      kubernetesVersion: "1.35.0",
      region: "eu-west-1",
      controlPlane: { count: 3, instanceType: "t3.medium" },
      workers: { count: 2 },
      etcd: { topology: "stacked", members: 3 },
      loadBalancer: { kind: "haproxy" },
      network: {
        vpcCidr: "10.0.0.0/16",
        podSubnet: "10.244.0.0/16",
        serviceSubnet: "10.96.0.0/12",
        availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
        natGateways: "single",
      },
      leaderElection: { leaseDuration: "15s", renewDeadline: "10s", retryPeriod: "2s" },
      cni: { plugin: "calico" },
    });
  });

  test("external etcd defaults to 3 members", () => {
    expect(validateSpec("x.yaml", "ext", "etcd: {topology: external}").spec.etcd.members).toBe(3);
  });
});

describe("schema errors name the file, the field, the value and what is accepted", () => {
  test.each([
    ["controlPlane: {cuont: 2}", 'clusters/bad.yaml: controlPlane.cuont: 2: unknown field; accepted here: count, instanceType'],
    ["nodez: {}", "clusters/bad.yaml: nodez: {}: unknown field; accepted here: kubernetesVersion, region"],
    ["controlPlane: {count: 0}", "controlPlane.count: 0: expected at least 1"],
    ["controlPlane: {count: 9}", "controlPlane.count: 9: expected at most 7"],
    ["controlPlane: {count: two}", 'controlPlane.count: "two": expected a number'],
    ["workers: {count: 1.5}", "workers.count: 1.5: expected a whole number"],
    ["workers: {instanceType: big}", 'workers.instanceType: "big": expected an EC2 instance type'],
    ["etcd: {topology: clustered}", 'etcd.topology: "clustered": expected one of "stacked", "external"'],
    ["loadBalancer: {kind: envoy}", 'loadBalancer.kind: "envoy": expected one of "haproxy", "nginx", "nlb"'],
    ["kubernetesVersion: 1.35", 'kubernetesVersion: 1.35: expected a string'],
    ["kubernetesVersion: v1.35.0", 'kubernetesVersion: "v1.35.0": expected a full Kubernetes release'],
    ["region: europe", 'region: "europe": expected an AWS region'],
    ["leaderElection: {leaseDuration: 15}", "leaderElection.leaseDuration: 15: expected a string"],
    ["leaderElection: {leaseDuration: 15 seconds}", 'leaderElection.leaseDuration: "15 seconds": expected a Go duration'],
    ["etcd: {topology: external, version: 3.4.23}", 'etcd.version: "3.4.23": expected an etcd 3.5 or 3.6 release'],
    ["network: {availabilityZones: [eu-west-1a]}", "network.availabilityZones: [\"eu-west-1a\"]: expected at least 2 entries"],
    ["cni: {plugin: weave}", 'cni.plugin: "weave": expected one of "calico", "flannel"'],
    ["controlPlane: 3", "controlPlane: 3: expected a mapping"],
  ])("%s", (yamlText, expected) => expectError(yamlText, expected));

  test("YAML syntax errors and duplicate keys are reported with the file", () => {
    expectError("workers: {count: 2", "(yaml)");
    expectError("workers: {count: 2}\nworkers: {count: 3}", "(yaml)");
  });

  test("a bad stack name (from the file name) is rejected", () => {
    expect(() => validateSpec("clusters/Prod_1.yaml", "Prod_1", "")).toThrow(
      'clusters/Prod_1.yaml: (file name): "Prod_1": the stack name comes from the file name',
    );
  });

  test("every problem is reported at once", () => {
    expect(errorsOf("controlPlane: {count: 0}\nworkers: {count: -1}\nloadBalancer: {kind: x}")).toHaveLength(3);
  });
});

describe("cross-field rules", () => {
  test("Kubernetes minor outside kubeadm v1beta4's range", () => {
    expectError('kubernetesVersion: "1.30.4"', 'kubernetesVersion: "1.30.4": kubeadm\'s v1beta4 configuration needs 1.31 or newer');
    expectError('kubernetesVersion: "1.36.0"', 'kubernetesVersion: "1.36.0": 1.36 and newer need containerd 2');
    expectError('kubernetesVersion: "1.99.0"', 'kubernetesVersion: "1.99.0": 1.36 and newer need containerd 2, and the nodes\' Ubuntu 24.04 containerd package is 1.7; this blueprint supports 1.31 to 1.35');
  });

  test("etcd.members, etcd.version and etcd.instanceType only with external etcd", () => {
    expectError("etcd: {members: 3}", "etcd.members: 3: only for etcd.topology external");
    expectError('etcd: {version: "3.6.4"}', 'etcd.version: "3.6.4": only for etcd.topology external');
    expectError("etcd: {topology: stacked, instanceType: t3.large}", 'etcd.instanceType: "t3.large": only for etcd.topology external');
  });

  test("no cluster range may use loopback, link-local or multicast space", () => {
    expectError("network: {podSubnet: 169.254.0.0/16}", 'network.podSubnet: "169.254.0.0/16": overlaps 169.254.0.0/16 (link-local');
    expectError("network: {serviceSubnet: 127.0.0.0/16}", 'network.serviceSubnet: "127.0.0.0/16": overlaps 127.0.0.0/8 (loopback)');
    expectError("network: {vpcCidr: 224.0.0.0/16}", 'network.vpcCidr: "224.0.0.0/16": overlaps 224.0.0.0/3');
  });

  test("malformed CIDRs", () => {
    expectError("network: {vpcCidr: 10.0.0.0}", 'network.vpcCidr: "10.0.0.0": expected an IPv4 CIDR');
    expectError("network: {podSubnet: 10.300.0.0/16}", "network.podSubnet: \"10.300.0.0/16\": each octet must be 0-255");
    expectError("network: {serviceSubnet: 10.96.0.1/12}", "network.serviceSubnet: \"10.96.0.1/12\": host bits are set; the network address is 10.96.0.0/12");
  });

  test("VPC prefix must fit AWS and the zone layout", () => {
    expectError("network: {vpcCidr: 10.0.0.0/8}", 'network.vpcCidr: "10.0.0.0/8": expected a prefix from /16');
    expectError("network: {vpcCidr: 10.0.0.0/24}", 'network.vpcCidr: "10.0.0.0/24": expected a prefix from /16');
  });

  test("service range size", () => {
    expectError("network: {serviceSubnet: 10.64.0.0/10}", 'network.serviceSubnet: "10.64.0.0/10": expected a prefix from /12');
  });

  test("overlapping VPC, pod and service ranges", () => {
    expectError("network: {podSubnet: 10.0.128.0/17}", 'network.podSubnet: "10.0.128.0/17": overlaps network.vpcCidr (10.0.0.0/16)');
    expectError("network: {serviceSubnet: 10.0.0.0/16}", 'network.serviceSubnet: "10.0.0.0/16": overlaps network.vpcCidr');
    expectError("network: {podSubnet: 10.96.0.0/16}", 'network.serviceSubnet: "10.96.0.0/12": overlaps network.podSubnet (10.96.0.0/16)');
  });

  test("the pod range must hold a /24 per node", () => {
    expectError("network: {podSubnet: 10.244.0.0/22}\nworkers: {count: 10}", 'network.podSubnet: "10.244.0.0/22": too small: every node takes a /24, so 13 nodes need a /20 or larger');
  });

  test("zones must belong to the region and be distinct", () => {
    expectError("network: {availabilityZones: [eu-west-1a, us-east-1b]}", 'network.availabilityZones.1: "us-east-1b": expected a zone of region eu-west-1');
    expectError("network: {availabilityZones: [eu-west-1a, eu-west-1a]}", "network.availabilityZones: [\"eu-west-1a\",\"eu-west-1a\"]: zones must be distinct");
  });

  test("workers must fit the per-zone subnets", () => {
    expectError("network: {vpcCidr: 10.0.0.0/22, podSubnet: 10.128.0.0/12}\nworkers: {count: 300}", "workers.count: 300: network.vpcCidr 10.0.0.0/22 leaves room for 261 workers over 3 zones");
  });

  test("leader election ordering as client-go requires", () => {
    expectError("leaderElection: {leaseDuration: 10s, renewDeadline: 10s}", 'leaderElection.renewDeadline: "10s": must be shorter than leaderElection.leaseDuration (10s)');
    expectError("leaderElection: {renewDeadline: 2s, retryPeriod: 2s}", 'leaderElection.retryPeriod: "2s": renewDeadline (2s) must exceed 1.2 x retryPeriod');
    expectError("leaderElection: {retryPeriod: 0s}", 'leaderElection.retryPeriod: "0s": expected a positive Go duration');
  });

  test("the S3 state backend needs a bucket; bucket settings need the S3 backend", () => {
    expectError("state: {backend: s3}", "state.bucket: (missing): required when state.backend is s3");
    expectError("state: {bucket: my-state}", 'state.bucket: "my-state": only for state.backend s3');
    expect(validateSpec("x.yaml", "xx", "state: {backend: s3, bucket: my-state}").spec.state).toEqual({ backend: "s3", bucket: "my-state" });
  });

  test("arm64 instance types need an arm64 AMI", () => {
    expectError("workers: {instanceType: m7g.large}", 'workers.instanceType: "m7g.large": an arm64 (Graviton) type, but the default Ubuntu image is amd64');
    expectError("loadBalancer: {instanceType: t4g.small}", 'loadBalancer.instanceType: "t4g.small": an arm64 (Graviton) type');
    expect(() => validateSpec("x.yaml", "xx", "workers: {instanceType: m7g.large}\nnodes: {amiId: ami-0123456789abcdef0}")).not.toThrow();
  });

  test("a 5 control-plane + 100 worker cluster is accepted", () => {
    expect(() => validateSpec("x.yaml", "big", "controlPlane: {count: 5}\nworkers: {count: 100}")).not.toThrow();
  });
});

describe("warnings for legal but fragile choices", () => {
  test("two stacked etcd members tolerate zero failures", () => {
    const { warnings } = validateSpec("x.yaml", "two", "controlPlane: {count: 2}");
    expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^etcd: 2 members stacked on the control-plane nodes tolerate zero failures/)]));
  });

  test("an even external member count warns; an odd one does not", () => {
    expect(validateSpec("x.yaml", "xx", "etcd: {topology: external, members: 4}").warnings.join("\n")).toMatch(/etcd: 4 members on dedicated etcd nodes tolerate 1 failure /);
    expect(validateSpec("x.yaml", "xx", "etcd: {topology: external, members: 3}").warnings.join("\n")).not.toMatch(/^etcd:/m);
  });

  test("single etcd member, single control plane, no workers", () => {
    const warnings = validateSpec("x.yaml", "xx", "controlPlane: {count: 1}\nworkers: {count: 0}").warnings.join("\n");
    expect(warnings).toMatch(/a single member stacked on the control-plane nodes tolerates zero failures/);
    expect(warnings).toMatch(/one control-plane node is not highly available/);
    expect(warnings).toMatch(/no worker nodes/);
  });

  test("the single load balancer is always called out", () => {
    expect(validateSpec("x.yaml", "xx", "").warnings.join("\n")).toMatch(/single point of failure/);
  });

  test("nginx warns that it has no active health checks", () => {
    expect(validateSpec("x.yaml", "xx", "loadBalancer: {kind: nginx}").warnings.join("\n")).toMatch(/NGINX open source has no active health checks.*a frozen one \(accepts TCP, never answers\) is never taken out/);
    expect(validateSpec("x.yaml", "xx", "").warnings.join("\n")).not.toMatch(/NGINX/);
  });

  test("end-of-life Kubernetes minors warn", () => {
    expect(validateSpec("x.yaml", "xx", 'kubernetesVersion: "1.32.3"').warnings.join("\n")).toMatch(/past upstream end of life/);
  });
});

describe("security and cost options (docs/security.md)", () => {
  test("nodes.cpuCredits: standard by default; a bad value names the field", () => {
    expect(validateSpec("x.yaml", "xx", "").spec.nodes.cpuCredits).toBe("standard");
    expect(validateSpec("x.yaml", "xx", "nodes: {cpuCredits: unlimited}").spec.nodes.cpuCredits).toBe("unlimited");
    expectError("nodes: {cpuCredits: burst}", 'nodes.cpuCredits: "burst": expected one of "standard", "unlimited"');
  });

  test("nodes.cpuCredits set without any burstable node is an error", () => {
    const allM5 = "controlPlane: {instanceType: m5.large}\nworkers: {instanceType: m5.large}\nloadBalancer: {instanceType: c5.large}";
    expectError(`${allM5}\nnodes: {cpuCredits: standard}`,
      'nodes.cpuCredits: "standard": only for burstable instance types (t2, t3, t3a, t4g), and no node is one (controlPlane.instanceType m5.large');
    expect(() => validateSpec("x.yaml", "xx", allM5)).not.toThrow();
    // One burstable role is enough.
    expect(() => validateSpec("x.yaml", "xx", `${allM5.replace("c5.large", "t3.small")}\nnodes: {cpuCredits: standard}`)).not.toThrow();
  });

  test("unlimited CPU credits warn, naming the burstable roles", () => {
    const warnings = validateSpec("x.yaml", "xx", "workers: {instanceType: m5.large}\nnodes: {cpuCredits: unlimited}").warnings.join("\n");
    expect(warnings).toMatch(/nodes\.cpuCredits: unlimited: burstable nodes \(controlPlane\.instanceType, loadBalancer\.instanceType\) .* every surplus credit is billed/);
    expect(validateSpec("x.yaml", "xx", "").warnings.join("\n")).not.toMatch(/cpuCredits/);
  });

  test("China and GovCloud regions are accepted; the ISO partitions are rejected", () => {
    expect(() => validateSpec("x.yaml", "xx", "region: cn-north-1")).not.toThrow();
    expect(() => validateSpec("x.yaml", "xx", "region: us-gov-west-1")).not.toThrow();
    expectError("region: us-iso-east-1", 'region: "us-iso-east-1": the ISO partitions are not supported');
    expectError("region: us-isob-east-1", 'region: "us-isob-east-1": the ISO partitions are not supported');
  });

  test("sessionManager.kmsKeyArn must be a key ARN of the region's partition", () => {
    const arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    expect(validateSpec("x.yaml", "xx", `sessionManager: {kmsKeyArn: "${arn}"}`).spec.sessionManager.kmsKeyArn).toBe(arn);
    expect(() => validateSpec("x.yaml", "xx", "sessionManager: {kmsKeyArn: \"arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab\"}")).not.toThrow();
    expectError('sessionManager: {kmsKeyArn: "alias/session"}', 'sessionManager.kmsKeyArn: "alias/session": expected a KMS key ARN');
    expectError(`region: cn-north-1\nsessionManager: {kmsKeyArn: "${arn.replace("eu-west-1", "cn-north-1")}"}`,
      "sessionManager.kmsKeyArn: \"arn:aws:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\": the key is in partition aws, but region cn-north-1 is in aws-cn");
  });

  test("session log destinations", () => {
    const { spec } = validateSpec("x.yaml", "xx", "sessionManager: {logging: {s3Bucket: audit-logs, s3KeyPrefix: ssm/sessions, cloudWatchLogGroup: /aws/ssm/sessions}}");
    expect(spec.sessionManager.logging).toEqual({ s3Bucket: "audit-logs", s3KeyPrefix: "ssm/sessions", cloudWatchLogGroup: "/aws/ssm/sessions" });
    expectError("sessionManager: {logging: {s3KeyPrefix: ssm}}", 'sessionManager.logging.s3KeyPrefix: "ssm": only with sessionManager.logging.s3Bucket');
    expectError("sessionManager: {logging: {s3Bucket: Audit_Logs}}", 'sessionManager.logging.s3Bucket: "Audit_Logs": expected an S3 bucket name');
    expectError("sessionManager: {logging: {s3Bucket: audit, s3KeyPrefix: /ssm/}}", 'sessionManager.logging.s3KeyPrefix: "/ssm/": expected an object key prefix');
    expectError("sessionManager: {logging: {cloudWatchLogGroup: \"bad group\"}}", 'sessionManager.logging.cloudWatchLogGroup: "bad group": expected a CloudWatch Logs log group name');
    expectError("sessionManager: {kmsKey: x}", "sessionManager.kmsKey: \"x\": unknown field; accepted here: kmsKeyArn, logging");
  });
});

test("the committed JSON Schema is current (run `npm run schema`)", () => {
  const committed = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "schema", "cluster-spec.schema.json"), "utf8"));
  expect(committed).toEqual(clusterSpecJsonSchema());
});

describe("warning categories and strict mode", () => {
  test("each warning names its field, value and category; the texts are synth's warnings", () => {
    const result = validateSpec("x.yaml", "xx", 'controlPlane: {count: 1}\nworkers: {count: 0}\nkubernetesVersion: "1.32.3"\nloadBalancer: {kind: nginx}');
    expect(result.specWarnings.map((w) => w.message)).toEqual(result.warnings);
    expect(result.specWarnings.map(({ category, field, value }) => ({ category, field, value }))).toEqual([
      { category: "ha", field: "controlPlane.count", value: 1 },
      { category: "ha", field: "controlPlane.count", value: 1 },
      { category: "ha", field: "loadBalancer.kind", value: "nginx" },
      { category: "ha", field: "loadBalancer.kind", value: "nginx" },
      { category: "workload", field: "workers.count", value: 0 },
      { category: "ha", field: "network.natGateways", value: "single" },
      { category: "lifecycle", field: "kubernetesVersion", value: "1.32.3" },
    ]);
    expect(validateSpec("x.yaml", "xx", "etcd: {topology: external, members: 4}").specWarnings[0]).toMatchObject({
      category: "ha", field: "etcd.members", value: 4,
    });
  });

  test("strict: true turns every HA warning into a file: field: value: reason error", () => {
    const lines = errorsOf("strict: true\ncontrolPlane: {count: 2}\n");
    expect(lines).toEqual([
      expect.stringMatching(/^clusters\/bad\.yaml: controlPlane\.count: 2: HA warning refused by strict mode \(strict: true\): etcd: 2 members stacked on the control-plane nodes tolerate zero failures/),
      expect.stringMatching(/^clusters\/bad\.yaml: loadBalancer\.kind: "haproxy": HA warning refused by strict mode \(strict: true\): loadBalancer: one load-balancer instance is a single point of failure/),
      expect.stringMatching(/^clusters\/bad\.yaml: network\.natGateways: "single": HA warning refused by strict mode \(strict: true\): network: one NAT gateway, in eu-west-1a, and no VPC endpoints/),
    ]);
  });

  test("strict mode leaves warnings that are not about availability as warnings", () => {
    const lines = errorsOf('strict: true\nworkers: {count: 0}\nkubernetesVersion: "1.32.3"\n');
    expect(lines.join("\n")).not.toMatch(/workers\.count|kubernetesVersion/);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/loadBalancer\.kind/);
    expect(lines[1]).toMatch(/network\.natGateways/);
  });

  test("the strict option (KUBEADM_HA_STRICT=1) applies to a spec that does not set strict", () => {
    expect(() => validateSpec("x.yaml", "xx", "controlPlane: {count: 3}")).not.toThrow();
    expect(() => validateSpec("x.yaml", "xx", "controlPlane: {count: 3}", { strict: true })).toThrow(
      /^x\.yaml: loadBalancer\.kind: "haproxy": HA warning refused by strict mode \(KUBEADM_HA_STRICT=1\)/,
    );
  });

  test("the unlimited CPU credits warning is a cost warning, which strict mode leaves alone", () => {
    const warning = validateSpec("x.yaml", "xx", "nodes: {cpuCredits: unlimited}").specWarnings.find((w) => w.field === "nodes.cpuCredits");
    expect(warning).toMatchObject({ category: "cost", value: "unlimited" });
    expect(errorsOf("strict: true\nnodes: {cpuCredits: unlimited}\n").join("\n")).not.toMatch(/cpuCredits/);
  });

  test("strict must be a boolean", () => {
    expectError('strict: "yes"\n', 'strict: "yes": expected a boolean');
  });

  test("KUBEADM_HA_STRICT accepts 1, 0 or nothing", () => {
    expect(strictFromEnvironment(undefined)).toBe(false);
    expect(strictFromEnvironment("")).toBe(false);
    expect(strictFromEnvironment("0")).toBe(false);
    expect(strictFromEnvironment("1")).toBe(true);
    expect(strictFromEnvironment("true")).toBe('KUBEADM_HA_STRICT: "true": expected 1 (every HA warning is an error) or 0');
  });
});
