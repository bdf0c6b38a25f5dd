/** Files of every node that runs the kubelet: its kubeadm configuration and the kernel settings Kubernetes needs. */
import type { NodeFile } from "../node-file";
import type { ClusterNode, Topology } from "../topology";
import { renderKubeadmConfigFile } from "./kubeadm";

/** What every Kubernetes node (control plane and worker) needs besides its boot scripts. */
export function kubernetesNodeFiles(topology: Topology, node: ClusterNode): NodeFile[] {
  return [
    renderKubeadmConfigFile(topology, node),
    // Container networking needs overlayfs for images and bridged traffic visible to iptables.
    { path: "/etc/modules-load.d/kubeadm-ha.conf", content: "overlay\nbr_netfilter\n", permissions: "0644" },
    {
      path: "/etc/sysctl.d/99-kubeadm-ha.conf",
      content: "net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = 1\n",
      permissions: "0644",
    },
  ];
}
