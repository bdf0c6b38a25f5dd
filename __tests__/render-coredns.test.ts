import { parse } from "yaml";
import { COREDNS_PDB_PATH, COREDNS_SPREAD_PATCH_PATH, corednsSpreadNodes, renderCorednsFiles } from "../lib/render/coredns";
import { renderKubeadmConfig } from "../lib/render/kubeadm";
import { renderNodeFiles } from "../lib/render/node-files";
import { inlineTopology, shippedTopology } from "./support/specs";

const topology = shippedTopology("five-server");
const files = new Map(renderCorednsFiles(topology).map((file) => [file.path, parse(file.content)]));

test("the patch spreads CoreDNS one per node (required) and across zones (preferred), counting only the current rollout", () => {
  const constraints = files.get(COREDNS_SPREAD_PATCH_PATH).spec.template.spec.topologySpreadConstraints;
  expect(constraints).toEqual([
    expect.objectContaining({ topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "DoNotSchedule", maxSkew: 1 }),
    expect.objectContaining({ topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway", maxSkew: 1 }),
  ]);
  for (const constraint of constraints) {
    expect(constraint.labelSelector).toEqual({ matchLabels: { "k8s-app": "kube-dns" } });
    expect(constraint.matchLabelKeys).toEqual(["pod-template-hash"]);
    expect(constraint.nodeTaintsPolicy).toBe("Honor");
  }
});

test("a PodDisruptionBudget lets a drain evict one CoreDNS replica at a time", () => {
  expect(files.get(COREDNS_PDB_PATH)).toEqual({
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: "coredns", namespace: "kube-system" },
    spec: { maxUnavailable: 1, selector: { matchLabels: { "k8s-app": "kube-dns" } } },
  });
});

test("only the init node gets the CoreDNS files and the spread step; it waits for the control plane and two workers", () => {
  for (const node of topology.nodes) {
    const paths = renderNodeFiles(topology, node).map((file) => file.path);
    expect(paths.includes(COREDNS_PDB_PATH)).toBe(node === topology.initNode);
    expect(paths.some((file) => file.endsWith("/spread-coredns.sh"))).toBe(node === topology.initNode);
  }
  expect(corednsSpreadNodes(topology)).toEqual(["control-plane-1", "control-plane-2", "worker-1", "worker-2"]);
  expect(corednsSpreadNodes(inlineTopology("many", "workers: {count: 9}"))).toEqual(["control-plane-1", "control-plane-2", "control-plane-3", "worker-1", "worker-2"]);
});

test("every kubelet labels its node with its region and zone, which the zone spread needs", () => {
  for (const node of [...topology.controlPlane, ...topology.workers]) {
    expect(renderKubeadmConfig(topology, node)).toContain(
      `- {name: node-labels, value: "topology.kubernetes.io/region=eu-west-1,topology.kubernetes.io/zone=${node.availabilityZone}"}`,
    );
  }
});
