/** Loading shipped and inline specs for tests. */
import * as fs from "fs";
import * as path from "path";
import { validateSpec } from "../../lib/validate";
import { buildTopology, Topology } from "../../lib/topology";

export const REPO_ROOT = path.join(__dirname, "..", "..");
export const SHIPPED_CLUSTERS = ["five-server", "external-etcd", "production"] as const;

export function shippedTopology(name: string): Topology {
  const file = path.join(REPO_ROOT, "clusters", `${name}.yaml`);
  const { spec, warnings } = validateSpec(`clusters/${name}.yaml`, name, fs.readFileSync(file, "utf8"));
  return buildTopology(spec, warnings);
}

export function inlineTopology(name: string, yamlText: string): Topology {
  const { spec, warnings } = validateSpec(`${name}.yaml`, name, yamlText);
  return buildTopology(spec, warnings);
}
