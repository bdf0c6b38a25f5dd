// Tests are transpile-only (swc); `npm run typecheck` does the type checking.
const fs = require("fs");
const path = require("path");
const slowSuites = require("./jest.slow-suites");

// Testing.synthScope and friends leave temp dirs behind: give each jest run its own folder inside
// the repo (so parallel runs never delete each other's files), removed by the global teardown.
if (!process.env.KUBEADM_HA_TEST_TMP) {
  process.env.KUBEADM_HA_TEST_TMP = path.join(__dirname, ".jest-tmp", `run-${process.pid}`);
  fs.mkdirSync(process.env.KUBEADM_HA_TEST_TMP, { recursive: true });
  process.env.TMPDIR = process.env.KUBEADM_HA_TEST_TMP;
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
