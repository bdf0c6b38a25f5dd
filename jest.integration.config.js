// `npm run test:integration`: the rendered configs run with real haproxy, nginx and etcd on loopback.
const base = require("./jest.config");

module.exports = {
  ...base,
  roots: ["<rootDir>/__tests__/integration"],
  testPathIgnorePatterns: [],
  testTimeout: 240000,
  maxWorkers: 1,
};
