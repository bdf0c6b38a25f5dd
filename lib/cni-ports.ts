/**
 * The node-to-node ports each pod network plugin needs. Part of the topology (the security groups
 * open exactly these), so it lives outside the renderers.
 */
export type CniPlugin = "calico" | "flannel";

/** A port the pod network needs open between all Kubernetes nodes. */
export interface CniPort {
  readonly protocol: "tcp" | "udp";
  readonly port: number;
  /** Why the port is open; lands in the security group rule's description. */
  readonly description: string;
}

/** Ports the plugin needs open between all Kubernetes nodes, and nothing else. */
export function cniPorts(plugin: CniPlugin): CniPort[] {
  switch (plugin) {
    case "calico":
      return [
        { protocol: "udp", port: 4789, description: "Calico VXLAN pod traffic between nodes" },
        { protocol: "tcp", port: 5473, description: "Calico Typha, felix to typha" },
      ];
    case "flannel":
      return [{ protocol: "udp", port: 8472, description: "flannel VXLAN pod traffic between nodes" }];
  }
}
