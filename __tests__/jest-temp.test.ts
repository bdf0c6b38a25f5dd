/**
 * Each jest run's temp folder (jest.config.js): its own, and a dead run's folder is removed by the
 * next run only when it is certainly abandoned (this user's, this PID namespace's, its PID gone).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const CONFIG = path.join(__dirname, "..", "jest.config.js");
const PREFIX = "kubeadm-ha-jest-run-";
const namespace = fs.readlinkSync("/proc/self/ns/pid");

let base: string;
beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), "jest-temp-"));
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

/** Loads the config as jest does at the start of a run; returns the run folder it made. */
function loadConfig(): string {
  const env: NodeJS.ProcessEnv = { ...process.env, KUBEADM_HA_TEST_TMP_BASE: base };
  delete env.KUBEADM_HA_TEST_TMP;
  const result = spawnSync(process.execPath, ["-e", `require(${JSON.stringify(CONFIG)}); console.log(process.env.KUBEADM_HA_TEST_TMP)`], {
    env,
    encoding: "utf8",
  });
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  return result.stdout.trim();
}

function runFolder(name: string, owner: string | undefined): string {
  const dir = path.join(base, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "some-file"), "x");
  if (owner !== undefined) fs.writeFileSync(path.join(dir, ".owner"), owner);
  return dir;
}

function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" });
  return Number(child.stdout.trim());
}

test("a run gets a fresh folder with an owner record, named after its PID with a random suffix", () => {
  const dir = loadConfig();
  expect(path.dirname(dir)).toBe(base);
  expect(path.basename(dir)).toMatch(new RegExp(`^${PREFIX}\\d+-[A-Za-z0-9]+$`));
  const pid = /-(\d+)-/.exec(path.basename(dir))?.[1];
  expect(fs.readFileSync(path.join(dir, ".owner"), "utf8")).toBe(`${namespace} ${pid}\n`);
  // That process has ended without a teardown: the next run removes its folder.
  const next = loadConfig();
  expect(next).not.toBe(dir);
  expect(fs.existsSync(dir)).toBe(false);
  expect(fs.existsSync(next)).toBe(true);
});

test("a dead run's folder is removed; a live run's, another namespace's, one without a record and an old-style name stay", () => {
  const dead = deadPid();
  const abandoned = runFolder(`${PREFIX}${dead}-abc123`, `${namespace} ${dead}\n`);
  const live = runFolder(`${PREFIX}${process.pid}-def456`, `${namespace} ${process.pid}\n`);
  const otherNamespace = runFolder(`${PREFIX}${dead}-ghi789`, `pid:[1] ${dead}\n`);
  const noRecord = runFolder(`${PREFIX}${dead}-jkl012`, undefined);
  const oldStyle = runFolder(`${PREFIX}${dead}`, `${namespace} ${dead}\n`);
  const unrelated = runFolder("something-else", undefined);
  const made = loadConfig();
  expect(fs.existsSync(abandoned)).toBe(false);
  for (const kept of [live, otherNamespace, noRecord, oldStyle, unrelated, made]) expect(fs.existsSync(kept)).toBe(true);
});

const asRoot = process.getuid?.() === 0;
(asRoot ? test : test.skip)("another user's dead-run folder is left alone, and the run still starts (as root: chown)", () => {
  const dead = deadPid();
  const foreign = runFolder(`${PREFIX}${dead}-mno345`, `${namespace} ${dead}\n`);
  fs.chownSync(foreign, 65534, 65534);
  loadConfig();
  expect(fs.existsSync(foreign)).toBe(true);
});
