/**
 * The unit suite validates every node's user-data with cloud-init's schema in one interpreter
 * (__tests__/support/cloud-init-schema.py). Here that validator is held to the real `cloud-init
 * schema` CLI, one process per document: the same verdict and the same messages.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderUserData } from "../../lib/render/user-data";
import { cloudInitSchemaAll } from "../support/cloud-init-schema";
import { shippedTopology } from "../support/specs";

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeadm-ha-cloud-init-cli-"));
afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

function cloudInitSchemaCli(name: string, userData: string) {
  const file = path.join(workDir, `${name}.yaml`);
  fs.writeFileSync(file, userData);
  return spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8", timeout: 60_000 });
}

const BROKEN = "#cloud-config\nwrite_files:\n- path: /x\n  permissions: 644\nruncmd: 3\n";
const topology = shippedTopology("five-server");
const GOOD = renderUserData(topology, topology.initNode);

test("negative control: cloud-init schema rejects a broken document", () => {
  const result = cloudInitSchemaCli("broken", BROKEN);
  expect(result.status).not.toBe(0);
  expect(`${result.stdout}${result.stderr}`).toMatch(/not of type/);
});

test("the one-process validator agrees with the cloud-init CLI, on a broken document and on a shipped node", () => {
  const batch = cloudInitSchemaAll(workDir, { "agree-broken": BROKEN, "agree-good": GOOD });
  const cli = cloudInitSchemaCli("agree-broken-cli", BROKEN);
  expect([batch["agree-broken"].valid, cli.status === 0]).toEqual([false, false]);
  for (const message of ["runcmd: 3 is not of type 'array'", "permissions: 644 is not of type 'string'"]) {
    expect(batch["agree-broken"].message).toContain(message);
    expect(cli.stdout + cli.stderr).toContain(message);
  }
  const cliGood = cloudInitSchemaCli("agree-good-cli", GOOD);
  expect([batch["agree-good"].valid, cliGood.status]).toEqual([true, 0]);
  expect(cliGood.stdout).toMatch(/Valid cloud-config/);
});
