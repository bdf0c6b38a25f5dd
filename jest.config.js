// Tests are transpile-only (swc); `npm run typecheck` does the type checking.
const fs = require("fs");
const path = require("path");
const slowSuites = require("./jest.slow-suites");

// Testing.synthScope, the synth tests and the node sandboxes write thousands of small files: give
// each jest run its own folder (so parallel runs never delete each other's files), removed by the
// global teardown. On tmpfs (/dev/shm) where there is one: creating those files on the disk costs
// seconds of system time per run.
if (!process.env.KUBEADM_HA_TEST_TMP) {
  const base = writableDir("/dev/shm") ? "/dev/shm" : path.join(__dirname, ".jest-tmp");
  removeAbandonedRuns(base);
  process.env.KUBEADM_HA_TEST_TMP = path.join(base, `kubeadm-ha-jest-run-${process.pid}`);
  fs.mkdirSync(process.env.KUBEADM_HA_TEST_TMP, { recursive: true });
  process.env.TMPDIR = process.env.KUBEADM_HA_TEST_TMP;
}

/** A run killed before its teardown leaves its folder behind (in RAM, on tmpfs): remove those of dead runs. */
function removeAbandonedRuns(base) {
  for (const name of fs.existsSync(base) ? fs.readdirSync(base) : []) {
    const pid = /^kubeadm-ha-jest-run-(\d+)$/.exec(name)?.[1];
    if (pid && !alive(Number(pid))) fs.rmSync(path.join(base, name), { recursive: true, force: true });
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
