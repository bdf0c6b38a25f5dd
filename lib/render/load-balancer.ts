/** The load-balancer node's proxy config, for the kind the spec picks. */
import type { NodeFile } from "../node-file";
import type { Topology } from "../topology";
import { renderHaproxyConfig } from "./haproxy";
import { renderNginxConfig } from "./nginx";

export const HAPROXY_CONFIG_PATH = "/etc/haproxy/haproxy.cfg";
export const NGINX_CONFIG_PATH = "/etc/nginx/nginx.conf";

export function renderLoadBalancerFiles(topology: Topology): NodeFile[] {
  const kind = topology.spec.loadBalancer.kind;
  switch (kind) {
    case "haproxy":
      return [{ path: HAPROXY_CONFIG_PATH, content: renderHaproxyConfig(topology), permissions: "0644" }];
    case "nginx":
      return [{ path: NGINX_CONFIG_PATH, content: renderNginxConfig(topology), permissions: "0644" }];
    default:
      return assertNever(kind);
  }
}

/** A new kind added to the spec fails type checking here instead of rendering nothing. */
function assertNever(kind: never): never {
  throw new Error(`unknown load balancer kind: ${String(kind)}`);
}
