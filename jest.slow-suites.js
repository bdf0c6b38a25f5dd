// Unit-suite files whose checks are real processes by the thousand, run by `npm run test:integration`
// (which CI runs) instead of `npm test`, to keep the unit suite's feedback fast. Paths from the repo root.
module.exports = [
  // Every node's real boot scripts with fakes, whole clusters at once: about 12,000 short-lived
  // processes and bounded waits; some 40 s of CPU on its own, more than the rest of the unit suite.
  "__tests__/bootstrap-simulation.test.ts",
];
