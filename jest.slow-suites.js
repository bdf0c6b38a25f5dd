// Unit-suite files whose checks are slow real processes (hundreds to thousands of them, or one tool
// with seconds of CPU), run by `npm run test:integration` (which CI runs) instead of `npm test`, to keep
// the unit suite's feedback fast. Paths from the repo root.
module.exports = [
  // Every node's real boot scripts with fakes, whole clusters at once: about 12,000 short-lived
  // processes and bounded waits; some 40 s of CPU on its own, more than the rest of the unit suite.
  "__tests__/bootstrap-simulation.test.ts",
  // The real shellcheck over every template twice (as written, and as the nodes receive them):
  // some 3 s of shellcheck's own CPU. scripts.test.ts keeps the scripts' form in the unit suite.
  "__tests__/shellcheck.test.ts",
  // The certificate-renewal and backup scripts with fakes: a few hundred bash, python and openssl
  // processes, some 5 s of CPU together.
  "__tests__/cert-renewal-simulation.test.ts",
  "__tests__/etcd-backup-simulation.test.ts",
];
