// Transpile-only TypeScript loader for the app: swc strips types in ~1 ms per file,
// so `npm run synth` needs no build step. Type checking is `npm run typecheck`.
"use strict";
const fs = require("fs");
const { transformSync } = require("@swc/core");

require.extensions[".ts"] = function compileTs(module, filename) {
  const source = fs.readFileSync(filename, "utf8");
  const { code } = transformSync(source, {
    filename,
    sourceMaps: "inline",
    module: { type: "commonjs" },
    jsc: { parser: { syntax: "typescript" }, target: "es2022" },
  });
  module._compile(code, filename);
};
