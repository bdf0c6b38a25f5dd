/** Writes schema/cluster-spec.schema.json (for editors) from the zod schema; a test keeps it current. */
import * as fs from "fs";
import * as path from "path";
import { clusterSpecJsonSchema } from "../lib/spec";

const target = path.join(__dirname, "..", "schema", "cluster-spec.schema.json");
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.writeFileSync(target, `${JSON.stringify(clusterSpecJsonSchema(), null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), target)}`);
