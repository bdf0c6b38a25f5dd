// Runs in every test file's context before it (jest.config.js setupFiles).
//
// cdktf captures a full stack trace for every token it makes, into a plain object, and in tests
// jest's source-map support formats each one: seconds of CPU per suite that builds stacks with
// Testing. Synth skips those captures (withoutTokenCreationStacks in lib/app.ts); so do the tests.
// Real errors (instances of Error) keep their stacks.
"use strict";
const capture = Error.captureStackTrace;
Error.captureStackTrace = function captureErrorStacksOnly(target, below) {
  if (target instanceof Error) capture.call(Error, target, below);
};
