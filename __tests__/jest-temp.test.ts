/**
 * Each jest run's temp folder (jest.config.js): its own, and a dead run's folder is removed by the
 * next run only when it is certainly abandoned (this user's, this PID namespace's, its PID gone).
 * The config is loaded in-process, as jest loads it at the start of a run.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const PREFIX = "kubeadm-ha-jest-run-";
const namespace = fs.readlinkSync("/proc/self/ns/pid");
// Above Linux's largest possible pid_max (2^22): no process has it.
const DEAD_PID = 4194305;
const ENV = ["KUBEADM_HA_TEST_TMP", "KUBEADM_HA_TEST_TMP_BASE", "TMPDIR"] as const;

let base: string;
let saved: Partial<Record<(typeof ENV)[number], string>>;
beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), "jest-temp-"));
  saved = Object.fromEntries(ENV.map((name) => [name, process.env[name]]));
});
afterEach(() => {
  for (const name of ENV) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
  fs.rmSync(base, { recursive: true, force: true });
});

/** Loads a fresh copy of the config, as at the start of a run; returns the run folder it made. */
function loadConfig(): string {
  process.env.KUBEADM_HA_TEST_TMP_BASE = base;
  delete process.env.KUBEADM_HA_TEST_TMP;
  jest.isolateModules(() => require("../jest.config.js"));
  return process.env.KUBEADM_HA_TEST_TMP!;
}

function runFolder(name: string, owner: string | undefined): string {
  const dir = path.join(base, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "some-file"), "x");
  if (owner !== undefined) fs.writeFileSync(path.join(dir, ".owner"), owner);
  return dir;
}

test("a run gets a fresh folder, named after its PID with a random suffix, with an owner record, and its TMPDIR points there", () => {
  const dir = loadConfig();
  expect(path.dirname(dir)).toBe(base);
  expect(path.basename(dir)).toMatch(new RegExp(`^${PREFIX}${process.pid}-[A-Za-z0-9]+$`));
  expect(fs.readFileSync(path.join(dir, ".owner"), "utf8")).toBe(`${namespace} ${process.pid}\n`);
  expect(process.env.TMPDIR).toBe(dir);
  const next = loadConfig();
  expect(next).not.toBe(dir);
  // This process is alive: its first folder stays.
  expect(fs.existsSync(dir)).toBe(true);
});

test("a dead run's folder is removed; a live run's, another namespace's, one without a record and an old-style name stay", () => {
  const abandoned = runFolder(`${PREFIX}${DEAD_PID}-abc123`, `${namespace} ${DEAD_PID}\n`);
  const live = runFolder(`${PREFIX}${process.pid}-def456`, `${namespace} ${process.pid}\n`);
  const otherNamespace = runFolder(`${PREFIX}${DEAD_PID}-ghi789`, `pid:[1] ${DEAD_PID}\n`);
  const noRecord = runFolder(`${PREFIX}${DEAD_PID}-jkl012`, undefined);
  const oldStyle = runFolder(`${PREFIX}${DEAD_PID}`, `${namespace} ${DEAD_PID}\n`);
  const unrelated = runFolder("something-else", undefined);
  const made = loadConfig();
  expect(fs.existsSync(abandoned)).toBe(false);
  for (const kept of [live, otherNamespace, noRecord, oldStyle, unrelated, made]) expect(fs.existsSync(kept)).toBe(true);
});

const asRoot = process.getuid?.() === 0;
(asRoot ? test : test.skip)("another user's dead-run folder is left alone, and the run still starts (as root: chown)", () => {
  const foreign = runFolder(`${PREFIX}${DEAD_PID}-mno345`, `${namespace} ${DEAD_PID}\n`);
  fs.chownSync(foreign, 65534, 65534);
  expect(fs.existsSync(loadConfig())).toBe(true);
  expect(fs.existsSync(foreign)).toBe(true);
});
