import { parseAllDocuments } from "yaml";
import {
  renderInitNodeJoinConfigFile,
  renderKubeadmConfig,
  sharedPkiFiles,
  DISCOVERY_KUBECONFIG_PATH,
  EXTERNAL_ETCD_CLIENT_FILES,
  KUBEADM_JOIN_CONFIG_PATH,
} from "../lib/render/kubeadm";
import type { ClusterNode, Topology } from "../lib/topology";
import { inlineTopology, shippedTopology } from "./support/specs";

type Doc = Record<string, any>;

function documents(topology: Topology, node: ClusterNode): Doc[] {
  const parsed = parseAllDocuments(renderKubeadmConfig(topology, node));
  if (!Array.isArray(parsed)) throw new Error("no documents");
  for (const document of parsed) expect(document.errors).toEqual([]);
  return parsed.map((document) => document.toJS() as Doc);
}

function kind(docs: Doc[], wanted: string): Doc {
  const found = docs.filter((doc) => doc.kind === wanted);
  expect(found).toHaveLength(1);
  return found[0];
}

function argMap(args: { name: string; value: string }[]): Record<string, string> {
  return Object.fromEntries(args.map((arg) => [arg.name, arg.value]));
}

/** Every field this renderer may emit, per v1beta4 type (kubeadm v1beta4 API reference). */
const V1BETA4_FIELDS: Record<string, string[]> = {
  InitConfiguration: ["apiVersion", "kind", "bootstrapTokens", "dryRun", "nodeRegistration", "localAPIEndpoint", "certificateKey", "skipPhases", "patches", "timeouts"],
  ClusterConfiguration: [
    "apiVersion", "kind", "etcd", "networking", "kubernetesVersion", "controlPlaneEndpoint", "apiServer", "controllerManager",
    "scheduler", "dns", "proxy", "certificatesDir", "imageRepository", "featureGates", "clusterName", "encryptionAlgorithm",
    "certificateValidityPeriod", "caCertificateValidityPeriod",
  ],
  JoinConfiguration: ["apiVersion", "kind", "dryRun", "nodeRegistration", "caCertPath", "discovery", "controlPlane", "skipPhases", "patches", "timeouts"],
  NodeRegistrationOptions: ["name", "criSocket", "taints", "kubeletExtraArgs", "ignorePreflightErrors", "imagePullPolicy", "imagePullSerial"],
  Discovery: ["bootstrapToken", "file", "tlsBootstrapToken"],
  FileDiscovery: ["kubeConfigPath"],
  JoinControlPlane: ["localAPIEndpoint", "certificateKey"],
  APIEndpoint: ["advertiseAddress", "bindPort"],
  ControlPlaneComponent: ["extraArgs", "extraVolumes", "extraEnvs"],
  APIServer: ["extraArgs", "extraVolumes", "extraEnvs", "certSANs"],
  Networking: ["serviceSubnet", "podSubnet", "dnsDomain"],
  Etcd: ["local", "external"],
  LocalEtcd: ["imageRepository", "imageTag", "dataDir", "extraArgs", "extraEnvs", "serverCertSANs", "peerCertSANs"],
  ExternalEtcd: ["endpoints", "caFile", "certFile", "keyFile"],
};

function expectFields(object: Doc, type: string): void {
  for (const key of Object.keys(object)) expect(`${type}.${key}`).toBe(`${type}.${V1BETA4_FIELDS[type].includes(key) ? key : "<not in v1beta4>"}`);
}

function expectArgList(args: unknown): void {
  // v1beta4: []Arg, never v1beta3's map[string]string.
  expect(Array.isArray(args)).toBe(true);
  for (const arg of args as Doc[]) {
    expect(Object.keys(arg).sort()).toEqual(["name", "value"]);
    expect(typeof arg.value).toBe("string");
  }
}

describe.each(["five-server", "external-etcd"])("kubeadm config of %s", (stack) => {
  const topology = shippedTopology(stack);
  const init = documents(topology, topology.initNode);

  test("init node: v1beta4 Init + Cluster configuration and a KubeletConfiguration", () => {
    expect(init.map((doc) => `${doc.apiVersion} ${doc.kind}`)).toEqual([
      "kubeadm.k8s.io/v1beta4 InitConfiguration",
      "kubeadm.k8s.io/v1beta4 ClusterConfiguration",
      "kubelet.config.k8s.io/v1beta1 KubeletConfiguration",
    ]);
    expect(kind(init, "KubeletConfiguration").cgroupDriver).toBe("systemd");
  });

  test("InitConfiguration: local endpoint, node registration, no literal token", () => {
    const config = kind(init, "InitConfiguration");
    expectFields(config, "InitConfiguration");
    expect(config.localAPIEndpoint).toEqual({ advertiseAddress: topology.initNode.privateIp, bindPort: 6443 });
    expectFields(config.nodeRegistration, "NodeRegistrationOptions");
    expect(config.nodeRegistration.name).toBe(topology.initNode.name);
    expect(config.nodeRegistration.criSocket).toBe("unix:///var/run/containerd/containerd.sock");
    expectArgList(config.nodeRegistration.kubeletExtraArgs);
    expect(argMap(config.nodeRegistration.kubeletExtraArgs)).toEqual({ "node-ip": topology.initNode.privateIp });
    expect(config.bootstrapTokens).toBeUndefined();
    expect(config.certificateKey).toBeUndefined();
  });

  test("ClusterConfiguration: endpoint is the load balancer and in certSANs with every control-plane IP", () => {
    const cluster = kind(init, "ClusterConfiguration");
    expectFields(cluster, "ClusterConfiguration");
    expect(cluster.controlPlaneEndpoint).toBe(`${topology.loadBalancer!.privateIp}:6443`);
    expect(cluster.controlPlaneEndpoint).toBe(topology.controlPlaneEndpoint);
    expect(cluster.kubernetesVersion).toBe("v1.35.0");
    expect(cluster.clusterName).toBe(stack);
    expectFields(cluster.networking, "Networking");
    expect(cluster.networking).toEqual({ dnsDomain: "cluster.local", podSubnet: "10.244.0.0/16", serviceSubnet: "10.96.0.0/12" });
    expectFields(cluster.apiServer, "APIServer");
    expect(cluster.apiServer.certSANs).toContain(topology.loadBalancer!.privateIp);
    for (const node of topology.controlPlane) expect(cluster.apiServer.certSANs).toContain(node.privateIp);
  });

  test("controller-manager and scheduler: leader election from the spec, v1beta4 list form", () => {
    const cluster = kind(init, "ClusterConfiguration");
    for (const component of ["controllerManager", "scheduler"]) {
      expectFields(cluster[component], "ControlPlaneComponent");
      expectArgList(cluster[component].extraArgs);
      expect(argMap(cluster[component].extraArgs)).toEqual({
        "leader-elect": "true",
        "leader-elect-lease-duration": "15s",
        "leader-elect-renew-deadline": "10s",
        "leader-elect-retry-period": "2s",
      });
    }
  });

  test("etcd: local for stacked, external endpoints equal the members", () => {
    const { etcd } = kind(init, "ClusterConfiguration");
    expectFields(etcd, "Etcd");
    if (topology.etcd.topology === "stacked") {
      expect(etcd.external).toBeUndefined();
      expectFields(etcd.local, "LocalEtcd");
      expect(etcd.local.dataDir).toBe("/var/lib/etcd");
    } else {
      expect(etcd.local).toBeUndefined();
      expectFields(etcd.external, "ExternalEtcd");
      expect(etcd.external.endpoints).toEqual(topology.etcd.members.map((member) => `https://${member.ip}:2379`));
      expect(etcd.external).toEqual({ endpoints: etcd.external.endpoints, ...EXTERNAL_ETCD_CLIENT_FILES });
      expect(EXTERNAL_ETCD_CLIENT_FILES).toEqual({
        caFile: "/etc/kubernetes/pki/etcd/ca.crt",
        certFile: "/etc/kubernetes/pki/apiserver-etcd-client.crt",
        keyFile: "/etc/kubernetes/pki/apiserver-etcd-client.key",
      });
    }
  });

  test("joins: control-plane nodes with a local endpoint, workers without; file discovery, no secret", () => {
    const joiners = topology.nodes.filter((node) => (node.role === "control-plane" || node.role === "worker") && node !== topology.initNode);
    expect(joiners.length).toBe(topology.controlPlane.length - 1 + topology.workers.length);
    for (const node of joiners) {
      const docs = documents(topology, node);
      expect(docs).toHaveLength(1);
      const join = kind(docs, "JoinConfiguration");
      expect(join.apiVersion).toBe("kubeadm.k8s.io/v1beta4");
      expectFields(join, "JoinConfiguration");
      expectFields(join.nodeRegistration, "NodeRegistrationOptions");
      expect(join.nodeRegistration.name).toBe(node.name);
      expect(argMap(join.nodeRegistration.kubeletExtraArgs)).toEqual({ "node-ip": node.privateIp });
      expectFields(join.discovery, "Discovery");
      expectFields(join.discovery.file, "FileDiscovery");
      expect(join.discovery).toEqual({ file: { kubeConfigPath: DISCOVERY_KUBECONFIG_PATH } });
      if (node.role === "control-plane") {
        expectFields(join.controlPlane, "JoinControlPlane");
        expect(join.controlPlane).toEqual({ localAPIEndpoint: { advertiseAddress: node.privateIp, bindPort: 6443 } });
      } else {
        expect(join.controlPlane).toBeUndefined();
      }
    }
  });

  test("init node's kubeadm-join.yaml: control-plane-2's JoinConfiguration with the init node's name and address", () => {
    const file = renderInitNodeJoinConfigFile(topology, topology.initNode);
    expect(file.path).toBe(KUBEADM_JOIN_CONFIG_PATH);
    expect(file.permissions).toBe("0600");
    const parsed = parseAllDocuments(file.content);
    if (!Array.isArray(parsed)) throw new Error("no documents");
    const docs = parsed.map((document) => document.toJS() as Doc);
    expect(docs).toHaveLength(1);
    const other = topology.controlPlane[1];
    const expected = JSON.parse(
      JSON.stringify(kind(documents(topology, other), "JoinConfiguration")).split(other.name).join(topology.initNode.name).split(other.privateIp).join(topology.initNode.privateIp),
    );
    expect(docs[0]).toEqual(expected);
    expect(docs[0].controlPlane.localAPIEndpoint.advertiseAddress).toBe(topology.initNode.privateIp);
    expect(() => renderInitNodeJoinConfigFile(topology, other)).toThrow(/not the init node/);
  });

  test("the leader-election list is written once and referenced, and parses to the same list for both", () => {
    const text = renderKubeadmConfig(topology, topology.initNode);
    expect(text).toMatch(/extraArgs: &leaderElection1\n/);
    expect(text).toMatch(/extraArgs: \*leaderElection1\n/);
    const cluster = kind(init, "ClusterConfiguration");
    expect(cluster.scheduler.extraArgs).toEqual(cluster.controllerManager.extraArgs);
  });

  test("no v1beta3 shapes anywhere", () => {
    for (const node of [...topology.controlPlane, ...topology.workers]) {
      const text = renderKubeadmConfig(topology, node);
      expect(text).not.toMatch(/v1beta3/);
      expect(text).not.toMatch(/unsafeSkipCAVerification|tlsBootstrapToken|certificateKey|token:/);
      for (const doc of documents(topology, node)) {
        for (const component of ["apiServer", "controllerManager", "scheduler"]) {
          if (doc[component]?.extraArgs) expectArgList(doc[component].extraArgs);
        }
        if (doc.nodeRegistration) expectArgList(doc.nodeRegistration.kubeletExtraArgs);
      }
    }
  });

  test("snapshot", () => {
    const rendered = Object.fromEntries(
      [...topology.controlPlane, ...topology.workers].map((node) => [node.name, renderKubeadmConfig(topology, node)]),
    );
    expect(rendered).toMatchSnapshot();
  });
});

test("the type checker catches a v1beta3 map-form extraArgs (the test can fail)", () => {
  expect(() => expectArgList({ "leader-elect": "true" })).toThrow();
  expect(() => expectFields({ discoveryTokenUnsafeSkipCAVerification: true }, "JoinConfiguration")).toThrow();
});

test("shared PKI: stacked carries the etcd CA, external the etcd client pair and never the etcd CA key", () => {
  expect(sharedPkiFiles(shippedTopology("five-server"))).toEqual([
    "ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key", "etcd/ca.crt", "etcd/ca.key",
  ]);
  const external = sharedPkiFiles(shippedTopology("external-etcd"));
  expect(external).toContain("apiserver-etcd-client.key");
  expect(external).not.toContain("etcd/ca.key");
});

test("leader election durations follow the spec", () => {
  const topology = inlineTopology("custom", "leaderElection: {leaseDuration: 30s, renewDeadline: 20s, retryPeriod: 5s}\n");
  const cluster = kind(documents(topology, topology.initNode), "ClusterConfiguration");
  expect(argMap(cluster.scheduler.extraArgs)["leader-elect-lease-duration"]).toBe("30s");
  expect(argMap(cluster.controllerManager.extraArgs)["leader-elect-retry-period"]).toBe("5s");
});

test("kubeadm config is refused for nodes that do not run kubeadm", () => {
  const topology = shippedTopology("external-etcd");
  expect(() => renderKubeadmConfig(topology, topology.loadBalancer!)).toThrow(/load-balancer/);
  expect(() => renderKubeadmConfig(topology, topology.etcdNodes[0])).toThrow(/etcd/);
});
