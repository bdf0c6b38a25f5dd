// `npm run test:integration`: the rendered configs run with real haproxy, nginx and etcd on loopback,
// and the unit-suite files too slow for `npm test` (jest.slow-suites.js).
const base = require("./jest.config");
const slowSuites = require("./jest.slow-suites");

module.exports = {
  ...base,
  roots: ["<rootDir>/__tests__"],
  testMatch: ["<rootDir>/__tests__/integration/**/*.test.ts", ...slowSuites.map((file) => `<rootDir>/${file}`)],
  testPathIgnorePatterns: ["/node_modules/"],
  testTimeout: 240000,
  maxWorkers: 1,
};
