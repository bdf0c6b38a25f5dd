/**
 * The shipped clusters (clusters/) synthesized once per jest run, for the suites that only read the
 * result (the stacks and the review bundle). The first suite to ask synthesizes into the run's temp
 * folder (jest.config.js); suites in other workers wait for it instead of synthesizing again. Treat
 * the folder as read-only: a suite that writes into an output folder synthesizes its own.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "./specs";

const WAIT_MS = 120_000;
const POLL_MS = 25;

/** The output folder (stacks/, review/) of `npm run synth` over clusters/, synthesized once per run. */
export function shippedSynthOutdir(): string {
  const runDir = process.env.KUBEADM_HA_TEST_TMP;
  // Outside jest.config.js's run folder there is nobody to share with.
  if (!runDir) return synthesizeInto(fs.mkdtempSync(path.join(os.tmpdir(), "shipped-synth-")));
  const root = path.join(runDir, "shipped-synth");
  const done = path.join(root, "done");
  const failed = path.join(root, "failed");
  const outdir = path.join(root, "out");
  try {
    // The one that creates the folder synthesizes; mkdir is atomic.
    fs.mkdirSync(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return waitFor(done, failed, outdir);
  }
  try {
    synthesizeInto(outdir);
  } catch (error) {
    fs.writeFileSync(failed, String((error as Error).stack ?? error));
    throw error;
  }
  fs.writeFileSync(done, "");
  return outdir;
}

function synthesizeInto(outdir: string): string {
  // Loaded here: a suite served from the shared folder never loads cdktf.
  const { synthesizeClusters } = require("../../lib/app") as typeof import("../../lib/app");
  synthesizeClusters({ clustersDir: path.join(REPO_ROOT, "clusters"), outdir });
  return outdir;
}

function waitFor(done: string, failed: string, outdir: string): string {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + WAIT_MS;
  while (!fs.existsSync(done)) {
    if (fs.existsSync(failed)) throw new Error(`the shared synth of clusters/ failed in another suite:\n${fs.readFileSync(failed, "utf8")}`);
    if (Date.now() > deadline) throw new Error(`the shared synth of clusters/ did not finish within ${WAIT_MS / 1000} s`);
    Atomics.wait(sleeper, 0, 0, POLL_MS);
  }
  return outdir;
}
