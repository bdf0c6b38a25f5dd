// Tests are transpile-only (swc); `npm run typecheck` does the type checking.
const fs = require("fs");
const path = require("path");
const slowSuites = require("./jest.slow-suites");

const RUN_PREFIX = "kubeadm-ha-jest-run-";
const RUN_FOLDER = new RegExp(`^${RUN_PREFIX}(\\d+)-[A-Za-z0-9]+$`);
const OWNER_FILE = ".owner";
const PID_NAMESPACE = pidNamespace();

// Testing.synthScope, the synth tests and the node sandboxes write thousands of small files: give
// each jest run its own folder (so parallel runs never delete each other's files), removed by the
// global teardown. On tmpfs (/dev/shm) where there is one: creating those files on the disk costs
// seconds of system time per run.
if (!process.env.KUBEADM_HA_TEST_TMP) {
  const base = process.env.KUBEADM_HA_TEST_TMP_BASE || (writableDir("/dev/shm") ? "/dev/shm" : path.join(__dirname, ".jest-tmp"));
  fs.mkdirSync(base, { recursive: true });
  removeAbandonedRuns(base);
  // A random suffix: runs in other PID namespaces (containers sharing /dev/shm) may have our PID.
  process.env.KUBEADM_HA_TEST_TMP = fs.mkdtempSync(path.join(base, `${RUN_PREFIX}${process.pid}-`));
  fs.writeFileSync(path.join(process.env.KUBEADM_HA_TEST_TMP, OWNER_FILE), ownerRecord(process.pid));
  process.env.TMPDIR = process.env.KUBEADM_HA_TEST_TMP;
}

/**
 * A run killed before its teardown leaves its folder behind (in RAM, on tmpfs): remove those of dead
 * runs. Only folders this user owns whose owner record names this PID namespace and a PID no
 * longer running; anything else (another user's run, another container's, a folder that cannot be
 * removed) is left alone rather than stopping this run.
 */
function removeAbandonedRuns(base) {
  for (const name of fs.readdirSync(base)) {
    const pid = Number(RUN_FOLDER.exec(name)?.[1]);
    if (!pid) continue;
    const dir = path.join(base, name);
    try {
      if (fs.statSync(dir).uid !== process.getuid()) continue;
      if (fs.readFileSync(path.join(dir, OWNER_FILE), "utf8") !== ownerRecord(pid) || alive(pid)) continue;
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // Not ours to judge (no owner record yet, or a permission error): leave it.
    }
  }
}

/** Who made a run folder: the PID and its namespace, so a PID is only judged where it means something. */
function ownerRecord(pid) {
  return `${PID_NAMESPACE} ${pid}\n`;
}

function pidNamespace() {
  try {
    return fs.readlinkSync("/proc/self/ns/pid");
  } catch {
    return ""; // No /proc: the PID alone.
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

function writableDir(dir) {
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  // The integration suite (real haproxy/nginx/etcd, and the slow suites of jest.slow-suites.js)
  // runs with `npm run test:integration`.
  testPathIgnorePatterns: ["/node_modules/", "/__tests__/integration/", ...slowSuites.map((file) => `<rootDir>/${file}$`)],
  transform: { "^.+\\.ts$": ["@swc/jest", { jsc: { target: "es2022" } }] },
  globalTeardown: "<rootDir>/__tests__/support/global-teardown.js",
  setupFiles: ["<rootDir>/__tests__/support/jest-setup.js"],
  testTimeout: 60000,
  // Jest's default (cores - 1) runs serially on a 2-core machine; most suites wait on child processes.
  maxWorkers: 2,
};
