// Tests are transpile-only (swc); `npm run typecheck` does the type checking.
const path = require("path");

// Testing.synthScope leaves a temp dir per call: keep them inside the repo, removed after the run.
process.env.TMPDIR = path.join(__dirname, ".jest-tmp");
require("fs").mkdirSync(process.env.TMPDIR, { recursive: true });

module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["@swc/jest", { jsc: { target: "es2022" } }] },
  globalTeardown: "<rootDir>/__tests__/support/global-teardown.js",
  testTimeout: 60000,
};
