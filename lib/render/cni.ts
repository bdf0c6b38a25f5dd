/**
 * The pod network: which pinned upstream manifests the init node applies, the cluster-specific
 * resource that sets the spec's pod CIDR (the node-to-node ports are in lib/cni-ports.ts).
 *
 * Both plugins encapsulate pod traffic in VXLAN between nodes. Unencapsulated pod IPs would be
 * dropped by EC2's source/destination check, and VXLAN needs no BGP port (179) between nodes.
 */
import { stringify } from "yaml";
import type { NodeFile } from "../node-file";
import type { Topology } from "../topology";
import type { CniPlugin } from "../cni-ports";

export type { CniPlugin } from "../cni-ports";

/** Pinned releases: upgrading the pod network is a reviewed change of these lines. */
export const CALICO_VERSION = "v3.31.3";
export const FLANNEL_VERSION = "v0.27.4";

/** Applied by the init node after `kubeadm init`, before CNI_RESOURCE_PATH. */
export const CNI_RESOURCE_PATH = "/etc/kubeadm-ha/cni/pod-network.yaml";

/**
 * Upstream manifests in apply order. Calico: the operator's CRDs, then the operator, which turns
 * the Installation resource into calico-node and Typha. Flannel: the DaemonSet and its ConfigMap,
 * whose net-conf the CNI_RESOURCE_PATH file then replaces with the spec's pod CIDR.
 */
export function cniManifestUrls(plugin: CniPlugin): string[] {
  switch (plugin) {
    case "calico": {
      const base = `https://raw.githubusercontent.com/projectcalico/calico/${CALICO_VERSION}/manifests`;
      return [`${base}/operator-crds.yaml`, `${base}/tigera-operator.yaml`];
    }
    case "flannel":
      return [`https://github.com/flannel-io/flannel/releases/download/${FLANNEL_VERSION}/kube-flannel.yml`];
  }
}

/** The CRD the cluster resource needs before it can be applied (calico only). */
export function cniResourceCrd(plugin: CniPlugin): string | undefined {
  return plugin === "calico" ? "installations.operator.tigera.io" : undefined;
}

/** The DaemonSet to restart so it picks up the replaced ConfigMap (flannel only). */
export function cniDaemonSetToRestart(plugin: CniPlugin): { namespace: string; name: string } | undefined {
  return plugin === "flannel" ? { namespace: "kube-flannel", name: "kube-flannel-ds" } : undefined;
}

export function renderCniResource(topology: Topology): string {
  const podSubnet = topology.spec.network.podSubnet;
  const header = `# Pod network (${topology.spec.cni.plugin}) of stack ${topology.stack}; rendered by kubeadm-ha.\n`;
  switch (topology.spec.cni.plugin) {
    case "calico":
      return header + stringify(calicoInstallation(podSubnet), { lineWidth: 0 });
    case "flannel":
      return header + stringify(flannelConfigMap(podSubnet), { lineWidth: 0 });
  }
}

/** Files only the init node needs: it is the one that installs the pod network. */
export function renderCniFiles(topology: Topology): NodeFile[] {
  return [{ path: CNI_RESOURCE_PATH, content: renderCniResource(topology), permissions: "0644" }];
}

function calicoInstallation(podSubnet: string) {
  return {
    apiVersion: "operator.tigera.io/v1",
    kind: "Installation",
    metadata: { name: "default" },
    spec: {
      calicoNetwork: {
        // VXLAN carries all pod traffic, so BGP is not needed and stays off.
        bgp: "Disabled",
        ipPools: [
          {
            name: "default-ipv4-ippool",
            cidr: podSubnet,
            blockSize: 26,
            // Always, not CrossSubnet: same-subnet pod traffic would otherwise leave unencapsulated.
            encapsulation: "VXLAN",
            natOutgoing: "Enabled",
            nodeSelector: "all()",
          },
        ],
      },
    },
  };
}

function flannelConfigMap(podSubnet: string) {
  const cniConf = {
    name: "cbr0",
    cniVersion: "0.3.1",
    plugins: [
      { type: "flannel", delegate: { hairpinMode: true, isDefaultGateway: true } },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  };
  const netConf = { Network: podSubnet, EnableNFTables: false, Backend: { Type: "vxlan" } };
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: "kube-flannel-cfg",
      namespace: "kube-flannel",
      labels: { app: "flannel", "k8s-app": "flannel", tier: "node" },
    },
    data: {
      "cni-conf.json": `${JSON.stringify(cniConf, null, 2)}\n`,
      "net-conf.json": `${JSON.stringify(netConf, null, 2)}\n`,
    },
  };
}
